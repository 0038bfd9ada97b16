-- The region tree: official divisions (levels 1-5), grids (6) and micro-grids (7).
-- A region is identified by its level and its right-padded 18-digit key; a subtree is the
-- key range [key, key + 10^(18 - digits)) at the levels below. The parent is derived from the
-- key, so no parent column and no recursive query is ever needed.
CREATE TABLE regions (
    level  INTEGER NOT NULL CHECK (level BETWEEN 1 AND 7),
    key    BIGINT  NOT NULL CHECK (key >= 0 AND key < 1000000000000000000),
    name   TEXT    NOT NULL,
    source TEXT    NOT NULL CHECK (source IN ('official', 'manual', 'imported', 'generated')),
    PRIMARY KEY (level, key)
);
-- Subtree scans across levels (search, summaries) walk this index.
CREATE INDEX regions_by_key ON regions (key, level);

CREATE TABLE grid_details (
    level      INTEGER NOT NULL,
    key        BIGINT  NOT NULL,
    kind       TEXT,
    boundary   TEXT,            -- GeoJSON MultiPolygon, WGS-84
    min_lon    DOUBLE PRECISION, min_lat DOUBLE PRECISION,
    max_lon    DOUBLE PRECISION, max_lat DOUBLE PRECISION,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (level, key),
    FOREIGN KEY (level, key) REFERENCES regions (level, key) ON DELETE CASCADE
);

CREATE TABLE grid_staff (
    level    INTEGER NOT NULL,
    key      BIGINT  NOT NULL,
    position INTEGER NOT NULL,
    role     TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    PRIMARY KEY (level, key, position),
    FOREIGN KEY (level, key) REFERENCES regions (level, key) ON DELETE CASCADE
);

CREATE TABLE map_layers (
    level       INTEGER NOT NULL,
    key         BIGINT  NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('boundary', 'roads')),
    data        TEXT    NOT NULL,
    min_lon     DOUBLE PRECISION NOT NULL, min_lat DOUBLE PRECISION NOT NULL,
    max_lon     DOUBLE PRECISION NOT NULL, max_lat DOUBLE PRECISION NOT NULL,
    attribution TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (level, key, kind),
    FOREIGN KEY (level, key) REFERENCES regions (level, key) ON DELETE CASCADE
);

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('cookie', 'bearer')),
    csrf       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT  NOT NULL,
    user_id    BIGINT,
    username   TEXT,
    action     TEXT    NOT NULL,
    target     TEXT,
    region_key BIGINT,
    before_json TEXT,
    after_json  TEXT,
    ip         TEXT
);
CREATE INDEX audit_by_region ON audit_log (region_key, id);

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
