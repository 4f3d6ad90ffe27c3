-- The Citus functions on a plain node (no Citus): ssad_sync has nothing to
-- do, ssad_shard_top_anomalies refuses a local table, and ssad.apply_models
-- (the worker side of a coordinator's push) applies a model's state, keeps an
-- unchanged row, and checks who may: another role can neither drop, overwrite
-- nor grant itself a model it does not own, nor store one in another role's
-- name (42501); a malformed state is 22023.
BEGIN;
SET client_min_messages = warning;
CREATE TABLE cl AS SELECT i AS id, (i % 20)::float8 AS a, (3 * (i % 20) + (i % 3) / 10.0)::float8 AS b
  FROM generate_series(1, 300) AS i;
SELECT version FROM ssad_train('clm', 'cl', exclude => ARRAY['id'], options => '{"epochs": 1, "seed": 1}');
SELECT version FROM ssad_train('clm', 'cl', exclude => ARRAY['id'], options => '{"epochs": 1, "seed": 2}');
SELECT count(*) AS nodes_synced FROM ssad_sync();
SELECT count(*) AS nodes_synced FROM ssad_sync('clm');
SELECT sqlstate_of($$SELECT * FROM ssad_shard_top_anomalies('clm', 'cl')$$);
-- clm's state under another name, as a coordinator pushes it.
SELECT jsonb_build_object('models', jsonb_build_object('clm_copy', jsonb_build_object(
         'versions', jsonb_agg(jsonb_build_object('version', version, 'source', source,
           'train_args', train_args, 'columns', columns, 'options', options, 'metrics', metrics,
           'format_version', format_version, 'model', encode(model, 'base64'), 'owner', owner,
           'created_at', created_at, 'active', active, 'high_water', high_water)),
         'grants', '["public"]'::jsonb)))::text AS st
  FROM ssad.models WHERE name = 'clm' \gset
SELECT ssad.apply_models(:'st');
SELECT bool_and(ssad_score('clm', t) = ssad_score('clm_copy', t)) AS same_scores FROM cl t;
SELECT grantee FROM ssad.model_grants WHERE name = 'clm_copy';
SELECT string_agg(id::text, ',' ORDER BY version) AS copy_ids FROM ssad.models WHERE name = 'clm_copy' \gset
SELECT ssad.apply_models(:'st');
SELECT string_agg(id::text, ',' ORDER BY version) = :'copy_ids' AS same_rows_kept FROM ssad.models WHERE name = 'clm_copy';
CREATE ROLE ssad_cl_other;
SET ROLE ssad_cl_other;
SELECT class, sqlstate_of(q) AS outcome FROM (VALUES
  ('drop', $$SELECT ssad.apply_models('{"models": {"clm_copy": {"versions": [], "grants": []}}}')$$),
  ('overwrite', format('SELECT ssad.apply_models(%L)', :'st')),
  ('take over', format('SELECT ssad.apply_models(%L)', replace(:'st', '"owner": "postgres"', '"owner": "ssad_cl_other"'))),
  ('in another name', format('SELECT ssad.apply_models(%L)', replace(:'st', 'clm_copy', 'clm_new'))),
  ('grant itself', $$SELECT ssad.apply_models('{"models": {"clm": {"versions": [], "grants": ["ssad_cl_other"]}}}')$$),
  ('sync', $$SELECT * FROM ssad_sync('clm')$$)
) AS c(class, q);
RESET ROLE;
SELECT class, sqlstate_of(q) AS outcome FROM (VALUES
  ('not an object', $$SELECT ssad.apply_models('{"models": 1}')$$),
  ('two active', format('SELECT ssad.apply_models(%L)', replace(:'st', '"active": false', '"active": true'))),
  ('no active', format('SELECT ssad.apply_models(%L)', replace(:'st', '"active": true', '"active": false'))),
  ('damaged bytes', format('SELECT ssad.apply_models(%L)', regexp_replace(:'st', '"model": "[A-Za-z0-9+/]{8}', '"model": "AAAAAAAA'))),
  ('unknown owner', format('SELECT ssad.apply_models(%L)', replace(:'st', '"owner": "postgres"', '"owner": "ssad_cl_nobody"')))
) AS c(class, q);
-- A complete state drops the models it leaves out.
SELECT ssad.apply_models(jsonb_set(:'st'::jsonb, '{complete}', 'true'));
SELECT name, version, active FROM ssad.models ORDER BY name, version;
ROLLBACK;
