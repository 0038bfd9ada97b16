-- The region tree: official divisions (levels 1-5), grids (6) and micro-grids (7).
-- A region is identified by its level and its right-padded 18-digit key; a subtree is the
-- key range [key, key + 10^(18 - digits)) at the levels below. The parent is derived from the
-- key, so no parent column and no recursive query is ever needed.
CREATE TABLE regions (
    level  INTEGER NOT NULL CHECK (level BETWEEN 1 AND 7),
    key    INTEGER NOT NULL CHECK (key >= 0 AND key < 1000000000000000000),
    name   TEXT    NOT NULL,
    source TEXT    NOT NULL CHECK (source IN ('official', 'manual', 'imported', 'generated')),
    PRIMARY KEY (level, key)
) WITHOUT ROWID;
-- Subtree scans across levels (search, summaries) walk this index.
CREATE INDEX regions_by_key ON regions (key, level);

CREATE TABLE grid_details (
    level      INTEGER NOT NULL,
    key        INTEGER NOT NULL,
    kind       TEXT,
    boundary   TEXT,            -- GeoJSON MultiPolygon, WGS-84
    min_lon    REAL, min_lat REAL, max_lon REAL, max_lat REAL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (level, key),
    FOREIGN KEY (level, key) REFERENCES regions (level, key) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE grid_staff (
    level    INTEGER NOT NULL,
    key      INTEGER NOT NULL,
    position INTEGER NOT NULL,
    role     TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    PRIMARY KEY (level, key, position),
    FOREIGN KEY (level, key) REFERENCES regions (level, key) ON DELETE CASCADE
) WITHOUT ROWID;

-- Map layers drawn offline: a region's boundary and its road network.
CREATE TABLE map_layers (
    level       INTEGER NOT NULL,
    key         INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('boundary', 'roads')),
    data        TEXT    NOT NULL, -- boundary: GeoJSON MultiPolygon; roads: [[[lon,lat],...],...]
    min_lon     REAL NOT NULL, min_lat REAL NOT NULL, max_lon REAL NOT NULL, max_lat REAL NOT NULL,
    attribution TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (level, key, kind),
    FOREIGN KEY (level, key) REFERENCES regions (level, key) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    scope         TEXT    NOT NULL, -- 'CN' or a region code
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY, -- SHA-256 of the token: a stolen database yields no session
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('cookie', 'bearer')),
    csrf       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Who did what, when, to what, with the row before and after.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL, -- milliseconds since 1970, UTC
    user_id    INTEGER,
    username   TEXT,
    action     TEXT    NOT NULL,
    target     TEXT,
    region_key INTEGER,
    before_json TEXT,
    after_json  TEXT,
    ip         TEXT
);
CREATE INDEX audit_by_region ON audit_log (region_key, id);

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
