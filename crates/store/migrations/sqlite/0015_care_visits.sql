-- Care's visits: the rules that plan how often key elderly are visited, the people enrolled
-- (重点老人) with their plans and when they are next due, and the visits made.

-- A region's own visit rules (JSON list of {"tags", "interval_days"}); a community without
-- its own uses the nearest region above that has some, else the built-in defaults.
CREATE TABLE care_visit_rules (
    scope_level INTEGER NOT NULL,
    scope_key   INTEGER NOT NULL,
    rules       TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL,
    PRIMARY KEY (scope_level, scope_key)
);

-- A person under care. No foreign key to residents: a resident removed from the registry
-- ends the enrolment (see `delete_resident`) and the visits made stay on record.
CREATE TABLE care_enrolments (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id   INTEGER NOT NULL,
    household_id  INTEGER NOT NULL,
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    interval_days INTEGER NOT NULL,
    rule          TEXT,             -- the rule that planned it (its tag codes), NULL when set by hand
    enrolled_at   INTEGER NOT NULL,
    enrolled_by   TEXT    NOT NULL,
    last_visit_at INTEGER,
    due_at        INTEGER NOT NULL, -- the next visit is due by then
    ended_at      INTEGER,
    ended_by      TEXT,
    end_reason    TEXT
);
-- One active enrolment per person.
CREATE UNIQUE INDEX care_enrolments_active ON care_enrolments (resident_id) WHERE ended_at IS NULL;
-- "Due and overdue in this grid", in place then due order.
CREATE INDEX care_enrolments_due ON care_enrolments (region_key, due_at) WHERE ended_at IS NULL;

-- A visit: when, how, by whom, what was found; when it was due, so "on time" stays as it
-- was whatever the plan becomes later.
CREATE TABLE care_visits (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    enrolment_id  INTEGER NOT NULL REFERENCES care_enrolments (id),
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    visited_at    INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL,
    visitor       TEXT    NOT NULL,
    mode          TEXT    NOT NULL CHECK (mode IN ('home', 'phone')),
    note          TEXT    NOT NULL,
    concerns      TEXT    NOT NULL, -- concern codes separated by commas, '' for none
    due_at        INTEGER NOT NULL,
    on_time       INTEGER NOT NULL
);
CREATE INDEX care_visits_by_enrolment ON care_visits (enrolment_id, visited_at);
CREATE INDEX care_visits_by_region ON care_visits (region_key, visited_at);

CREATE TABLE care_visit_photos (
    visit_id INTEGER NOT NULL REFERENCES care_visits (id),
    sha256   TEXT    NOT NULL,
    format   TEXT    NOT NULL,
    bytes    INTEGER NOT NULL,
    width    INTEGER NOT NULL,
    height   INTEGER NOT NULL,
    PRIMARY KEY (visit_id, sha256)
);
