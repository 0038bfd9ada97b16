-- No query reads events by updated_at (it is shown, never searched), yet every new report
-- and every step of every event wrote an entry into this index.
DROP INDEX IF EXISTS events_updated;
