-- The region summary counts, for each age band, the residents born in its boundary year
-- and the lonely among them (a bit test on `flags`). With `flags` in the birth index that
-- count reads the index alone instead of fetching every matching row from the table.
DROP INDEX residents_by_birth;
CREATE INDEX residents_by_birth ON residents (birth, region_key, flags);
