-- The community health check (社区体检): its inputs that the registry does not hold, its
-- editable weights, and each run with its results per community.

-- Staffing figures a community worker enters: community_workers, elderly_care_staff,
-- infant_care_places.
CREATE TABLE community_figures (
    community_key INTEGER           NOT NULL,
    figure        TEXT             NOT NULL,
    value         REAL NOT NULL CHECK (value >= 0),
    updated_at    INTEGER           NOT NULL,
    updated_by    TEXT             NOT NULL,
    PRIMARY KEY (community_key, figure)
);

-- Overrides of the built-in weights and targets (linli_core::healthcheck::default_weights).
CREATE TABLE healthcheck_weights (
    indicator  TEXT             PRIMARY KEY,
    weight     REAL NOT NULL CHECK (weight >= 0),
    target     REAL,
    updated_at INTEGER           NOT NULL
);

CREATE TABLE healthcheck_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    region_key   INTEGER NOT NULL,
    region_level INTEGER NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    stage        TEXT   NOT NULL,
    done         INTEGER NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    started_by   TEXT   NOT NULL,
    inputs       TEXT   NOT NULL, -- JSON: network, types and radii, weights, counts, medians
    error        TEXT
);
CREATE INDEX healthcheck_runs_by_region ON healthcheck_runs (region_level, region_key, id);

CREATE TABLE healthcheck_results (
    run_id        INTEGER           NOT NULL REFERENCES healthcheck_runs (id) ON DELETE CASCADE,
    community_key INTEGER           NOT NULL,
    residents     INTEGER           NOT NULL,
    assessed      INTEGER          NOT NULL,
    idx           REAL,
    rank          INTEGER,
    flagged       INTEGER          NOT NULL,
    detail        TEXT             NOT NULL, -- JSON: coverage, indicators, weak types and the buildings out of their reach
    map           TEXT             NOT NULL, -- JSON: buildings and their walking metres per type, for the portrait's map
    PRIMARY KEY (run_id, community_key)
);
