-- Why an alarm could not become an event (its household's building outside the district,
-- the category switched off …): kept on the alarm, which is then passed over, so that one
-- such alarm does not hold up the others behind it. The operator sees it in the alarm list.
ALTER TABLE care_alarms ADD COLUMN dispatch_problem TEXT;
