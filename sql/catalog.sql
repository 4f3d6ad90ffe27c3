-- ssad catalog: schema, model versions, grants, row-level security, the readable view.
-- Installed first (bootstrap); kept by pg_dump through pg_extension_config_dump.
CREATE SCHEMA IF NOT EXISTS ssad;
COMMENT ON SCHEMA ssad IS 'ssad model catalog';

CREATE TABLE ssad.models (
    id              bigserial   PRIMARY KEY,
    name            text        NOT NULL CHECK (name <> '' AND length(name) <= 63),
    version         integer     NOT NULL CHECK (version > 0),
    source          text        NOT NULL,
    train_args      jsonb       NOT NULL,
    columns         jsonb       NOT NULL,
    options         jsonb       NOT NULL,
    metrics         jsonb       NOT NULL,
    score_quantiles float8[]    NOT NULL,
    format_version  integer     NOT NULL CHECK (format_version > 0),
    model           bytea       NOT NULL,
    owner           name        NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    active          boolean     NOT NULL DEFAULT false,
    high_water      integer     NOT NULL DEFAULT 0 CHECK (high_water >= 0),
    UNIQUE (name, version)
);
CREATE UNIQUE INDEX models_one_active ON ssad.models (name) WHERE active;
COMMENT ON TABLE ssad.models IS 'ssad models: one row per trained version; the active row is the one scoring uses';
COMMENT ON COLUMN ssad.models.source IS 'the relation trained on, schema-qualified';
COMMENT ON COLUMN ssad.models.train_args IS 'columns, exclude and options as given: what ssad_retrain replays';
COMMENT ON COLUMN ssad.models.columns IS 'model columns with their kinds and encoding statistics';
COMMENT ON COLUMN ssad.models.options IS 'training options with every automatic choice made concrete';
COMMENT ON COLUMN ssad.models.score_quantiles IS 'scores of training rows at probabilities 0, 0.01, ..., 1';
COMMENT ON COLUMN ssad.models.model IS 'model bytes: magic, format version, payload, CRC-32';
COMMENT ON COLUMN ssad.models.high_water IS 'highest version number the model has had, dropped versions included: a new version is numbered above it, so a number never names two versions';

CREATE TABLE ssad.model_grants (
    name    text NOT NULL,
    grantee name NOT NULL,
    PRIMARY KEY (name, grantee)
);
COMMENT ON TABLE ssad.model_grants IS 'roles allowed to score a model (grantee public: every role)';

COMMENT ON SEQUENCE ssad.models_id_seq IS 'ids of ssad model versions';
SELECT pg_catalog.pg_extension_config_dump('ssad.models', '');
SELECT pg_catalog.pg_extension_config_dump('ssad.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ssad.model_grants', '');

-- The owner of a model name, whoever may see its rows: policies need it
-- without recursing into the models table's own policies.
CREATE FUNCTION ssad.model_owner(model_name text) RETURNS name
LANGUAGE sql STABLE STRICT SECURITY DEFINER PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT owner FROM ssad.models WHERE name = model_name ORDER BY version DESC LIMIT 1 $$;
COMMENT ON FUNCTION ssad.model_owner(text) IS 'Owner role of an ssad model, NULL when no such model exists';

-- Privileges. Every role reads the catalog through row-level security: the
-- owner's rows (and those of roles it is a member of) and the models granted
-- to it or to public. Nobody writes it directly: INSERT, UPDATE and DELETE
-- are the catalog owner's alone, and ssad's functions check who may change a
-- model before they write as that owner (src/guard.rs). So a model's name,
-- version, owner and active flag change only through ssad_train,
-- ssad_retrain, ssad_import, ssad_activate, ssad_rename and ssad_drop, and a
-- grant only through ssad_grant, ssad_revoke, ssad_rename and ssad_drop.
ALTER TABLE ssad.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_read ON ssad.models FOR SELECT USING (
    pg_catalog.pg_has_role(owner, 'MEMBER')
    OR EXISTS (SELECT 1 FROM ssad.model_grants g
                WHERE g.name = models.name
                  AND (g.grantee = 'public' OR pg_catalog.pg_has_role(g.grantee, 'MEMBER'))));

ALTER TABLE ssad.model_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY grants_read ON ssad.model_grants FOR SELECT USING (true);

REVOKE ALL ON ssad.models, ssad.model_grants FROM PUBLIC;
REVOKE ALL ON SEQUENCE ssad.models_id_seq FROM PUBLIC;
GRANT USAGE ON SCHEMA ssad TO PUBLIC;
GRANT SELECT ON ssad.models, ssad.model_grants TO PUBLIC;

CREATE VIEW ssad.model_versions WITH (security_barrier, security_invoker) AS
SELECT name, version, active, source, owner, created_at,
       jsonb_array_length(columns) AS n_columns,
       (metrics->>'rows_used')::bigint AS rows_used,
       round((metrics->>'train_seconds')::numeric, 2) AS train_seconds,
       pg_catalog.pg_size_pretty(pg_catalog.octet_length(model)::bigint) AS size
  FROM ssad.models;
COMMENT ON VIEW ssad.model_versions IS 'ssad models for humans: one row per version';
GRANT SELECT ON ssad.model_versions TO PUBLIC;
