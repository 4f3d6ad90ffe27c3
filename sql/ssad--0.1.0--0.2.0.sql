-- ssad 0.1.0 -> 0.2.0: a version number is never reused (ssad.models.high_water).
\echo Use "ALTER EXTENSION ssad UPDATE TO '0.2.0'" to load this file. \quit

ALTER TABLE ssad.models
    ADD COLUMN high_water integer NOT NULL DEFAULT 0 CHECK (high_water >= 0);
COMMENT ON COLUMN ssad.models.high_water IS 'highest version number the model has had, dropped versions included: a new version is numbered above it, so a number never names two versions';
