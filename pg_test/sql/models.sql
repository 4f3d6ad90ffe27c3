-- Models are owned catalog objects: versions, activation (rollback), rename,
-- drop, grants, export/import, and privileges between roles.
BEGIN;
SET client_min_messages = warning;
CREATE TABLE m AS SELECT i AS id, (i % 20)::float8 AS x, (3 * (i % 20) + (i % 3) / 10.0)::float8 AS y FROM generate_series(1, 300) AS i;
SELECT version FROM ssad_train('mm', 'm', exclude => ARRAY['id'], options => '{"epochs": 2, "seed": 1}');
SELECT version FROM ssad_train('mm', 'm', exclude => ARRAY['id'], options => '{"epochs": 2, "seed": 2}');
SELECT name, version, active, source, n_columns, rows_used FROM ssad.model_versions ORDER BY version;
-- Rollback to version 1: scores follow the active version.
SELECT round(ssad_score('mm', t)::numeric, 6) AS v2_score FROM m t WHERE id = 7 \gset
SELECT ssad_activate('mm', 1);
SELECT round(ssad_score('mm', t)::numeric, 6) <> :v2_score AS changed_with_version FROM m t WHERE id = 7;
SELECT version, active FROM ssad.models WHERE name = 'mm' ORDER BY version;
SELECT q, sqlstate_of(q) FROM (VALUES
  ($$SELECT ssad_activate('mm', 9)$$),
  ($$SELECT ssad_drop('mm', 1)$$),
  ($$SELECT ssad_drop('nope')$$),
  ($$SELECT ssad_rename('mm', 'mm')$$),
  ($$SELECT ssad_grant('mm', 'no_such_role')$$),
  ($$SELECT ssad_import('x', '\x0102'::bytea)$$),
  ($$SELECT ssad_top_anomalies('mm', k => 0)$$),
  ($$SELECT ssad_drop(NULL)$$)
) AS cases(q);
SELECT ssad_drop('mm', 2) AS dropped;
-- Retrain replays the stored arguments as a new active version.
SELECT model_name, version, columns FROM ssad_retrain('mm');
-- Rename keeps every version; the old name is gone.
SELECT ssad_rename('mm', 'mm2');
SELECT name, version, active FROM ssad.models ORDER BY version;
SELECT sqlstate_of($$SELECT ssad_score('mm', t) FROM m t$$);
-- Export, then import under another name: identical scores.
SELECT ssad_import('mm_copy', ssad_export('mm2')) AS imported_version;
SELECT bool_and(ssad_score('mm2', t) = ssad_score('mm_copy', t)) AS identical FROM m t;
SELECT metrics->>'imported_from_version' AS from_version FROM ssad.models WHERE name = 'mm_copy';
-- ssad_score(r) picks the one active model trained on the row's table...
SELECT ssad_drop('mm_copy');
SELECT ssad_score(t) = ssad_score('mm2', t) AS same FROM m t WHERE id = 1;
-- ...and names the candidates when there are several.
SELECT version FROM ssad_train('other', 'm', options => '{"epochs": 1}');
SELECT sqlstate_of($$SELECT ssad_score(t) FROM m t$$);
-- Privileges: another role can neither see nor change the model until granted.
CREATE ROLE ssad_regress_bob;
GRANT SELECT ON m TO ssad_regress_bob;
SET ROLE ssad_regress_bob;
SELECT count(*) AS visible_versions FROM ssad.models;
SELECT q, sqlstate_of(q) FROM (VALUES
  ($$SELECT ssad_score('mm2', t) FROM m t$$),
  ($$SELECT ssad_drop('mm2')$$),
  ($$SELECT ssad_activate('mm2', 1)$$),
  ($$SELECT ssad_rename('mm2', 'mine')$$),
  ($$SELECT ssad_retrain('mm2')$$),
  ($$SELECT ssad_train('mm2', 'm', options => '{"epochs": 1}')$$),
  ($$SELECT ssad_grant('mm2', 'ssad_regress_bob')$$),
  ($$DELETE FROM ssad.models$$),
  ($$SELECT ssad_export('mm2')$$)
) AS cases(q);
RESET ROLE;
SELECT count(*) AS versions_still_there FROM ssad.models WHERE name = 'mm2';
SELECT ssad_grant('mm2', 'ssad_regress_bob');
SET ROLE ssad_regress_bob;
SELECT ssad_score('mm2', t) > 0 AS granted_scores FROM m t WHERE id = 1;
SELECT sqlstate_of($$SELECT ssad_drop('mm2')$$) AS still_not_owner;
-- Bob trains his own model: he owns it.
SELECT version FROM ssad_train('bobs', 'm', options => '{"epochs": 1}');
SELECT name, owner FROM ssad.models WHERE name = 'bobs';
RESET ROLE;
-- Training reads with the caller's privileges: row-level security applies.
ALTER TABLE m ENABLE ROW LEVEL SECURITY;
CREATE POLICY bob_sees_some ON m FOR SELECT TO ssad_regress_bob USING (id <= 100);
SET ROLE ssad_regress_bob;
SELECT rows_used, rows_scanned FROM ssad_train('bobs', 'm', options => '{"epochs": 1}');
RESET ROLE;
REVOKE SELECT ON m FROM ssad_regress_bob;
SET ROLE ssad_regress_bob;
SELECT sqlstate_of($$SELECT ssad_retrain('bobs')$$) AS without_select_privilege;
RESET ROLE;
SELECT ssad_revoke('mm2', 'ssad_regress_bob');
SET ROLE ssad_regress_bob;
SELECT sqlstate_of($$SELECT ssad_score('mm2', t) FROM m t$$) AS after_revoke;
RESET ROLE;
ROLLBACK;
