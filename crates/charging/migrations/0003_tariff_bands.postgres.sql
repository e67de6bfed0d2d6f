ALTER TABLE ch_tariffs ADD COLUMN bands TEXT;
