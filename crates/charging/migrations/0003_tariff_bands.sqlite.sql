ALTER TABLE ch_tariffs ADD COLUMN bands TEXT;
ALTER TABLE ch_cdrs ADD COLUMN duration_seconds BIGINT;
