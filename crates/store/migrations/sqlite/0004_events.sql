-- Events (事件, 工单): categories and departments (the responsibility list), the grids'
-- admission lists, events with their flow log, photos, summons, notifications, and the
-- Open311 API keys.
--
-- An event carries the key of the most specific region it lies in, so "events in my area"
-- is one key range. Its handling unit is a region (grid, community or street) or a
-- department. The next deadline stage to fire is kept on the event (`timer_at`, indexed):
-- the scheduler finds due work with one range scan and claims each stage by a conditional
-- update, so a stage fires once even with several linli processes on one database.

CREATE TABLE departments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    code       TEXT    NOT NULL UNIQUE,
    name_zh    TEXT    NOT NULL,
    name_en    TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE event_categories (
    code             TEXT    PRIMARY KEY,
    parent_code      TEXT    REFERENCES event_categories (code),
    position         INTEGER NOT NULL,
    name_zh          TEXT    NOT NULL,
    name_en          TEXT    NOT NULL,
    deadline_minutes INTEGER NOT NULL CHECK (deadline_minutes > 0),
    grace_minutes    INTEGER NOT NULL CHECK (grace_minutes >= 0),
    level            TEXT    NOT NULL CHECK (level IN ('grid', 'community', 'street', 'department')),
    department_id    INTEGER REFERENCES departments (id),
    grid_may_close   BOOLEAN NOT NULL,
    active           BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at       INTEGER NOT NULL
);

-- A community's 准入清单: the categories its grids may close on the spot. A community with
-- a row in admission_lists decides by its own rows; one without uses the categories' default.
CREATE TABLE admission_lists (
    community_key INTEGER PRIMARY KEY,
    updated_at    INTEGER NOT NULL,
    updated_by    INTEGER
);
CREATE TABLE admissions (
    community_key INTEGER NOT NULL REFERENCES admission_lists (community_key) ON DELETE CASCADE,
    category_code TEXT    NOT NULL REFERENCES event_categories (code),
    PRIMARY KEY (community_key, category_code)
);

-- Department clerks belong to a department.
ALTER TABLE users ADD COLUMN department_id INTEGER REFERENCES departments (id);

-- A 200 m cell of the WGS-84 plane, for "near this point" on buildings and events without
-- a spatial extension: a point's neighbours are in its own and the 8 surrounding cells.
ALTER TABLE buildings ADD COLUMN cell INTEGER GENERATED ALWAYS AS (
    CAST((lon + 180.0) / 0.002 AS INTEGER) * 100000 + CAST((lat + 90.0) / 0.002 AS INTEGER)
) VIRTUAL;
CREATE INDEX buildings_by_cell ON buildings (cell) WHERE cell IS NOT NULL;

CREATE TABLE events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    category_code     TEXT    NOT NULL REFERENCES event_categories (code),
    description       TEXT    NOT NULL,
    source            TEXT    NOT NULL CHECK (source IN ('resident', 'patrol', 'hotline', 'sensor', 'open311', 'generated')),
    lon               REAL,
    lat               REAL,
    cell              INTEGER,
    address           TEXT,
    building_id       INTEGER REFERENCES buildings (id),
    region_key        INTEGER NOT NULL,
    region_level      INTEGER NOT NULL,
    state             TEXT    NOT NULL,
    unit_level        INTEGER NOT NULL,
    unit_key          INTEGER NOT NULL, -- the region's key, or 0 for a department
    department_id     INTEGER REFERENCES departments (id),
    reporter_id       INTEGER REFERENCES users (id),
    contact_name      TEXT,
    contact_phone_masked TEXT,
    contact_phone_cipher BLOB,
    open311_key_id    INTEGER,
    created_at        INTEGER NOT NULL,
    deadline_start    INTEGER NOT NULL,
    due_at            INTEGER NOT NULL,
    grace_ms          INTEGER NOT NULL,
    warned            TEXT,             -- the last deadline stage fired: yellow, red, escalate
    timer_at          INTEGER,          -- when the next stage fires; NULL while none runs
    extension_minutes INTEGER,          -- asked for, not yet decided
    escalations       INTEGER NOT NULL DEFAULT 0,
    reopened          INTEGER NOT NULL DEFAULT 0,
    accepted_at       INTEGER,
    reported_back_at  INTEGER,
    closed_at         INTEGER,
    closed_on_time    BOOLEAN,
    rating            INTEGER,
    rating_comment    TEXT,
    rated_at          INTEGER,
    merged_into       INTEGER REFERENCES events (id),
    version           INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX events_by_region ON events (region_key, created_at);
CREATE INDEX events_inbox ON events (unit_level, unit_key, department_id, state, due_at);
CREATE INDEX events_timer ON events (timer_at) WHERE timer_at IS NOT NULL;
CREATE INDEX events_nearby ON events (category_code, cell, created_at) WHERE cell IS NOT NULL;
CREATE INDEX events_by_reporter ON events (reporter_id, id) WHERE reporter_id IS NOT NULL;
CREATE INDEX events_merged ON events (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX events_updated ON events (updated_at);
CREATE INDEX events_by_state ON events (state, region_key);

-- Every transition, with who, when, what, from and to.
CREATE TABLE event_flow (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   INTEGER NOT NULL REFERENCES events (id),
    at         INTEGER NOT NULL,
    actor_id   INTEGER,
    actor_name TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    note       TEXT,
    detail     TEXT    -- JSON: the unit moved to, the stars, the departments summoned …
);
CREATE INDEX event_flow_by_event ON event_flow (event_id, id);

CREATE TABLE event_photos (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   INTEGER NOT NULL REFERENCES events (id),
    flow_id    INTEGER REFERENCES event_flow (id),
    sha256     TEXT    NOT NULL,
    format     TEXT    NOT NULL,
    bytes      INTEGER NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX event_photos_by_event ON event_photos (event_id, id);

-- 吹哨、报到: departments summoned to an event, and when each must check in.
CREATE TABLE event_summons (
    event_id      INTEGER NOT NULL REFERENCES events (id),
    department_id INTEGER NOT NULL REFERENCES departments (id),
    state         TEXT    NOT NULL CHECK (state IN ('waiting', 'overdue', 'checked_in')),
    summoned_at   INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    checked_in_at INTEGER,
    PRIMARY KEY (event_id, department_id)
);
CREATE INDEX event_summons_due ON event_summons (due_at) WHERE state = 'waiting';
CREATE INDEX event_summons_by_department ON event_summons (department_id, state);

-- What a person should look at: reminders to a unit's inbox, updates to a reporter.
CREATE TABLE notifications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    user_id       INTEGER REFERENCES users (id),
    unit_level    INTEGER,
    unit_key      INTEGER,
    department_id INTEGER,
    event_id      INTEGER NOT NULL REFERENCES events (id),
    kind          TEXT    NOT NULL,
    read_at       INTEGER
);
CREATE INDEX notifications_by_user ON notifications (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX notifications_by_unit ON notifications (unit_level, unit_key, department_id, id) WHERE user_id IS NULL;

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE
);
