-- Care (关爱): the devices in the homes of key elderly, what they send, and what was refused.

-- A device with its own credential (only the credential's SHA-256 is kept), in a household;
-- the household's place copied so that a region's devices are one range. The counters and
-- the last reading's time are kept by every ingestion, so that the operator's list reads
-- one row per device, not its readings.
CREATE TABLE care_devices (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL CHECK (kind IN ('sos', 'smoke', 'gas', 'door', 'motion', 'bed', 'vitals')),
    household_id  INTEGER NOT NULL REFERENCES households (id),
    community_key INTEGER NOT NULL,
    region_key    INTEGER NOT NULL,
    secret_hash   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    last_seen_at  INTEGER,          -- the latest reading's own time
    battery       REAL,             -- the latest battery level sent, per cent
    readings      INTEGER NOT NULL DEFAULT 0,
    duplicates    INTEGER NOT NULL DEFAULT 0,
    refused       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX care_devices_by_region ON care_devices (region_key, id);

-- Readings, once each: a reading sent again (MQTT QoS 1 redelivers) has the same seq.
CREATE TABLE care_readings (
    device_key  INTEGER NOT NULL REFERENCES care_devices (id),
    seq         INTEGER NOT NULL,
    ts          INTEGER NOT NULL, -- the device's time, ms
    kind        TEXT    NOT NULL,
    value       REAL,             -- 1/0 for on/off kinds, the measure for the others
    received_at INTEGER NOT NULL,
    PRIMARY KEY (device_key, seq)
) WITHOUT ROWID;

-- What was refused, counted per claimed device id and reason, with the latest as a sample:
-- nothing a device sends is dropped without a trace, and a flood from one id stays one row
-- per reason.
CREATE TABLE care_refusals (
    device_id    TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    community_key INTEGER, -- the device's community and place, when the id is registered
    region_key   INTEGER,
    n            INTEGER NOT NULL,
    first_at     INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    last_message TEXT    NOT NULL, -- JSON {"zh": …, "en": …}
    last_payload TEXT    NOT NULL, -- the first 512 bytes sent, as text
    PRIMARY KEY (device_id, reason)
);
CREATE INDEX care_refusals_by_region ON care_refusals (region_key);
