-- The memory store's database, beside the Dagster instance's (POSTGRES_DB). Run once, by the
-- postgres image, when its data volume is empty; the schemas are created on first use.
CREATE DATABASE memories;
