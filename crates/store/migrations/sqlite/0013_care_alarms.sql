-- Care's alarm rules: each household's rules (its own, or the defaults) and the rule engine's
-- state, kept in the transaction that stores the readings it saw; and the alarms raised.

-- A household the rules watch: created with its first reading. `due_at` is when the passing
-- of time could next raise an alarm (inactivity, a night exit, a device offline): the timer
-- visits only the households that are due.
CREATE TABLE care_households (
    household_id  INTEGER PRIMARY KEY REFERENCES households (id),
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    rules         TEXT,             -- JSON, the household's own rules; NULL: the defaults
    state         TEXT    NOT NULL, -- JSON, the rule engine's state
    due_at        INTEGER,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX care_households_due ON care_households (due_at) WHERE due_at IS NOT NULL;

-- An alarm: raised by a rule for a device of a household; `cleared_at` when its condition
-- ended (the person moved again, the smoke cleared); acknowledged and resolved by people.
-- It becomes an event (`event_id`) in the household's grid worker's inbox; one not
-- acknowledged in time is escalated (`escalated_at`) to the community.
CREATE TABLE care_alarms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    household_id    INTEGER NOT NULL REFERENCES households (id),
    device_key      INTEGER NOT NULL REFERENCES care_devices (id),
    community_key   INTEGER NOT NULL,
    region_key      INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    severity        TEXT    NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    state           TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'resolved')),
    since           INTEGER NOT NULL, -- when the condition began (the last activity, the press)
    raised_at       INTEGER NOT NULL,
    cleared_at      INTEGER,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT,
    outcome         TEXT,
    event_id        INTEGER REFERENCES events (id),
    escalated_at    INTEGER
);
CREATE INDEX care_alarms_by_region ON care_alarms (region_key, raised_at);
-- Alarms still to become events, and those waiting for acknowledgement: small sets.
CREATE INDEX care_alarms_undispatched ON care_alarms (id) WHERE event_id IS NULL;
CREATE INDEX care_alarms_unacknowledged ON care_alarms (raised_at) WHERE state = 'open' AND escalated_at IS NULL;
CREATE INDEX care_alarms_uncleared ON care_alarms (household_id, kind, device_key) WHERE cleared_at IS NULL;
