-- 按期办结率 measures a closing against the time promised at the report: the category's
-- allowed time from the report, moved by approved extensions and set anew by a reopening,
-- but not by an escalation (linli_core::events::flow::DeadlineChange::promised). Until now
-- a closing was measured against `due_at`, the current unit's working deadline, which an
-- escalation restarts: an event that went overdue, was escalated and was then closed
-- counted as closed on time.
ALTER TABLE events ADD COLUMN promised_at BIGINT NOT NULL DEFAULT 0;

-- Events already stored: the allowed time of their current round (with its extensions)
-- from the report, or from the reopening that started the round. Closings already counted
-- keep the verdict they were given.
UPDATE events
SET promised_at = due_at - deadline_start
    + CASE WHEN reopened > 0 THEN deadline_start ELSE created_at END;
