-- The leaders' event figures. Every event write appends delta rows (insert only, so writers
-- never queue on a shared counter row); a folder, run every few seconds and before each
-- figures request, moves them into per-scope counters by day and by calendar month (China
-- time) in one transaction that deletes exactly the deltas it folds.
--
-- A scope is a region of level 3–7 (`scope_kind` = its level, `scope_key` = its key) or a
-- department (`scope_kind` = 0, `scope_key` = its id). `span` is 1 for a day, 2 for a
-- month; `start_day` counts days since 1970-01-01.

CREATE TABLE event_stat_deltas (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    region_key     INTEGER,          -- NULL: no region scope (a department's own intake)
    region_level   INTEGER,
    department_id  INTEGER,          -- NULL: no department scope
    category_code  TEXT    NOT NULL,
    day            INTEGER NOT NULL,
    received       INTEGER NOT NULL DEFAULT 0,
    dropped        INTEGER NOT NULL DEFAULT 0, -- merged into another or withdrawn
    closed         INTEGER NOT NULL DEFAULT 0,
    closed_on_time INTEGER NOT NULL DEFAULT 0,
    resolved       INTEGER NOT NULL DEFAULT 0, -- counted on the day received
    rated          INTEGER NOT NULL DEFAULT 0,
    satisfied      INTEGER NOT NULL DEFAULT 0,
    handling_ms    INTEGER NOT NULL DEFAULT 0,
    bucket         INTEGER           -- the handling-time bucket that `closed` moves
);

CREATE TABLE event_stats (
    scope_kind     INTEGER NOT NULL,
    scope_key      INTEGER NOT NULL,
    span           INTEGER NOT NULL,
    start_day      INTEGER NOT NULL,
    category_code  TEXT    NOT NULL,
    received       INTEGER NOT NULL DEFAULT 0,
    dropped        INTEGER NOT NULL DEFAULT 0,
    closed         INTEGER NOT NULL DEFAULT 0,
    closed_on_time INTEGER NOT NULL DEFAULT 0,
    resolved       INTEGER NOT NULL DEFAULT 0,
    rated          INTEGER NOT NULL DEFAULT 0,
    satisfied      INTEGER NOT NULL DEFAULT 0,
    handling_ms    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope_kind, scope_key, span, start_day, category_code)
);

CREATE TABLE event_handling_hist (
    scope_kind    INTEGER NOT NULL,
    scope_key     INTEGER NOT NULL,
    span          INTEGER NOT NULL,
    start_day     INTEGER NOT NULL,
    category_code TEXT    NOT NULL,
    bucket        INTEGER NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope_key, span, start_day, category_code, bucket)
);
