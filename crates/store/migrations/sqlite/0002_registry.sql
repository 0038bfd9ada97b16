-- The registry (人、房、设施): buildings, households, residents, facilities and hubs.
--
-- Every record carries the key of the most specific region it lies in (a micro-grid, grid or
-- community: `region_key`) so that "in my grid" is one key range, and the key of its
-- community (`community_key`) for the rules that are per community. Households and
-- residents copy both from their building; moving a building moves them in the same
-- transaction.
--
-- ID numbers and phones are stored encrypted (`*_cipher`, AES-256-GCM under a key that is
-- never in the database), found by keyed hash (`*_lookup`, HMAC-SHA256) and shown masked
-- (`*_masked`). Dates are integers yyyymmdd.

-- The health check's facility typology: seeded from the built-in table, editable by admins.
CREATE TABLE facility_types (
    code           TEXT    PRIMARY KEY,
    position       INTEGER NOT NULL,
    category       TEXT    NOT NULL,
    name_zh        TEXT    NOT NULL,
    name_en        TEXT    NOT NULL,
    circle_minutes INTEGER NOT NULL CHECK (circle_minutes IN (5, 10, 15)),
    radius_m       INTEGER NOT NULL CHECK (radius_m > 0),
    osm_tags       TEXT    NOT NULL, -- key=value;key=value
    updated_at     INTEGER NOT NULL
);

CREATE TABLE buildings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    region_level  INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    address       TEXT    NOT NULL,
    lon           REAL,
    lat           REAL,
    floors        INTEGER,
    units         INTEGER,
    source        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (community_key, name)
);
CREATE INDEX buildings_by_region ON buildings (region_key, id);

CREATE TABLE households (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    building_id   INTEGER NOT NULL REFERENCES buildings (id),
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    unit          TEXT    NOT NULL,
    room          TEXT    NOT NULL,
    tenure        TEXT    NOT NULL CHECK (tenure IN ('owner', 'renter')),
    size          INTEGER,
    source        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (building_id, unit, room)
);
CREATE INDEX households_by_region ON households (region_key, id);

CREATE TABLE residents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    household_id  INTEGER NOT NULL REFERENCES households (id),
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    gender        TEXT    NOT NULL CHECK (gender IN ('male', 'female')),
    birth         INTEGER NOT NULL,
    relation      TEXT    NOT NULL,
    id_cipher     BLOB    NOT NULL,
    id_lookup     BLOB    NOT NULL UNIQUE, -- one person, one record in the district
    id_masked     TEXT    NOT NULL,
    phone_cipher  BLOB,
    phone_lookup  BLOB,
    phone_masked  TEXT,
    flags         INTEGER NOT NULL DEFAULT 0, -- assigned tags as bits, mirrored from resident_tags
    renter        INTEGER NOT NULL DEFAULT 0, -- household rented or tagged 租户
    source        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
-- Place then age: lists in a region ordered by place, and age bounds within a small place.
CREATE INDEX residents_by_region ON residents (region_key, birth, id);
-- Age first: "everyone 80+ in the district" reads only the old.
CREATE INDEX residents_by_birth ON residents (birth, region_key);
CREATE INDEX residents_by_household ON residents (household_id);
CREATE INDEX residents_by_phone ON residents (phone_lookup);

-- Assigned tags with who set them and when; place and birth copied so that a tag query
-- ("独居 in this street, 80+") is answered from this index alone.
CREATE TABLE resident_tags (
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    tag         TEXT    NOT NULL,
    region_key  INTEGER NOT NULL,
    birth       INTEGER NOT NULL,
    set_by      TEXT    NOT NULL,
    set_at      INTEGER NOT NULL,
    PRIMARY KEY (resident_id, tag)
) WITHOUT ROWID;
CREATE INDEX resident_tags_by_tag ON resident_tags (tag, region_key, birth, resident_id);

-- Neighbourhood hubs (幸福邻里坊) and their spaces.
CREATE TABLE hubs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    region_level  INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('clustered', 'distributed', 'embedded')),
    model         TEXT    NOT NULL,
    functions     TEXT    NOT NULL, -- JSON array of function codes and free X functions
    address       TEXT    NOT NULL,
    lon           REAL,
    lat           REAL,
    source        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (community_key, name)
);
CREATE INDEX hubs_by_region ON hubs (region_key, id);

CREATE TABLE hub_spaces (
    hub_id   INTEGER NOT NULL REFERENCES hubs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    role     TEXT    NOT NULL CHECK (role IN ('main', 'satellite', 'room')),
    name     TEXT    NOT NULL,
    area_m2  REAL    NOT NULL,
    function TEXT,
    PRIMARY KEY (hub_id, position)
) WITHOUT ROWID;

CREATE TABLE facilities (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    region_level  INTEGER NOT NULL,
    type_code     TEXT    NOT NULL REFERENCES facility_types (code) ON UPDATE CASCADE,
    name          TEXT    NOT NULL,
    address       TEXT    NOT NULL,
    lon           REAL,
    lat           REAL,
    floor_area_m2 REAL,
    hub_id        INTEGER REFERENCES hubs (id) ON DELETE SET NULL,
    source        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX facilities_by_region ON facilities (region_key, type_code);

-- Counts per community kept current by every registry write (recomputed for the communities
-- a write touched, in its transaction), so that a district's summary adds up 200 rows
-- instead of counting a million. Residents by birth year, so age bands stay exact: whole
-- years from here, the one boundary year counted live.
CREATE TABLE registry_stats (
    community_key INTEGER NOT NULL,
    birth_year    INTEGER NOT NULL,
    residents     INTEGER NOT NULL,
    renters       INTEGER NOT NULL,
    lonely        INTEGER NOT NULL, -- tagged 独居, 孤寡 or 空巢
    PRIMARY KEY (community_key, birth_year)
) WITHOUT ROWID;

CREATE TABLE registry_counts (
    community_key     INTEGER NOT NULL,
    name              TEXT    NOT NULL, -- households, renter_households, buildings, facilities, hubs, tag:<code>
    n                 INTEGER NOT NULL,
    PRIMARY KEY (community_key, name)
) WITHOUT ROWID;
