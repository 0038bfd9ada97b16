-- Open311 GeoReport v2 (see crates/server/src/open311.rs). The same as the SQLite set.
--
-- A service definition's attributes (e.g. the floor of a leak, the building of a broken
-- lift) come with a request as `attribute[code]=value`; they are checked against the
-- definition and kept here as one JSON object per event, NULL when none were sent.
ALTER TABLE events ADD COLUMN attributes TEXT;

-- The public request list filters by when requests were made (the spec's start_date and
-- end_date, 90 days by default) across the whole database, newest first: without this
-- index that list would read every event.
CREATE INDEX events_by_created ON events (created_at, id);
