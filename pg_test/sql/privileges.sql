-- The privilege matrix: the owner of a model, a role granted it and a role
-- with neither, against every ssad function and against direct SELECT,
-- INSERT, UPDATE and DELETE on every catalog table. Each cell runs in its own
-- subtransaction, rolled back after it, so no cell changes what the next sees.
-- Then the hostile sequences that once took a model over, and a caller's own
-- operators on its search_path, which ssad's internal SQL never runs.
BEGIN;
SET client_min_messages = warning;
CREATE ROLE ssad_priv_owner;
CREATE ROLE ssad_priv_granted;
CREATE ROLE ssad_priv_other;
CREATE TABLE pt AS SELECT i AS id, (i % 20)::float8 AS x, (3 * (i % 20) + (i % 3) / 10.0)::float8 AS y,
       (i % 2 = 0) AS flag FROM generate_series(1, 300) AS i;
GRANT SELECT ON pt TO ssad_priv_owner, ssad_priv_granted, ssad_priv_other;
-- The probe: run q as role r; 'ok' or the SQLSTATE, nothing kept either way.
CREATE FUNCTION pg_temp.probe(r text, q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    EXECUTE q;
    RAISE EXCEPTION USING ERRCODE = 'ZZ999';
  EXCEPTION WHEN OTHERS THEN
    RETURN CASE WHEN SQLSTATE = 'ZZ999' THEN 'ok' ELSE SQLSTATE END;
  END;
END $$;
SET ROLE ssad_priv_owner;
SELECT version FROM ssad_train('pm', 'pt', exclude => ARRAY['id'], options => '{"epochs": 2, "seed": 1}');
SELECT version FROM ssad_train('pm', 'pt', exclude => ARRAY['id'], options => '{"epochs": 2, "seed": 2}');
SELECT ssad_grant('pm', 'ssad_priv_granted');
RESET ROLE;
SELECT q AS statement,
       pg_temp.probe('ssad_priv_owner', q) AS owner,
       pg_temp.probe('ssad_priv_granted', q) AS granted,
       pg_temp.probe('ssad_priv_other', q) AS other
  FROM (VALUES
  ($$SELECT ssad_score('pm', t) FROM pt t$$),
  ($$SELECT ssad_score(t) FROM pt t$$),
  ($$SELECT ssad_score('pm', ROW(1, 2.0, 3.0, true)::pt)$$),
  ($$SELECT ssad_quantile('pm', t) FROM pt t$$),
  ($$SELECT ssad_is_anomaly('pm', t) FROM pt t$$),
  ($$SELECT ssad_explain('pm', t) FROM pt t WHERE id = 1$$),
  ($$SELECT ssad_embed('pm', t) FROM pt t WHERE id = 1$$),
  ($$SELECT * FROM ssad_top_anomalies('pm', k => 3)$$),
  ($$SELECT * FROM ssad_evaluate('pm', 'pt', 'flag')$$),
  ($$SELECT ssad_export('pm')$$),
  ($$SELECT ssad.model_owner('pm')$$),
  ($$SELECT * FROM ssad_train('pm', 'pt', exclude => ARRAY['id'], options => '{"epochs": 1}')$$),
  ($$SELECT * FROM ssad_train('pm_new', 'pt', exclude => ARRAY['id'], options => '{"epochs": 1}')$$),
  ($$SELECT * FROM ssad_retrain('pm')$$),
  ($$SELECT ssad_activate('pm', 1)$$),
  ($$SELECT ssad_drop('pm', 1)$$),
  ($$SELECT ssad_drop('pm')$$),
  ($$SELECT ssad_rename('pm', 'pm_renamed')$$),
  ($$SELECT ssad_grant('pm', 'ssad_priv_other')$$),
  ($$SELECT ssad_revoke('pm', 'ssad_priv_granted')$$),
  ($$SELECT ssad_import('pm', ssad_export('pm'))$$),
  ($$SELECT count(*) FROM ssad.models$$),
  ($$SELECT count(*) FROM ssad.model_grants$$),
  ($$SELECT count(*) FROM ssad.model_versions$$),
  ($$INSERT INTO ssad.models (name, version, source, train_args, columns, options, metrics, score_quantiles, format_version, model)
      SELECT 'forged', 1, source, train_args, columns, options, metrics, score_quantiles, format_version, model FROM ssad.models LIMIT 1$$),
  ($$UPDATE ssad.models SET active = false WHERE name = 'pm'$$),
  ($$UPDATE ssad.models SET name = 'theirs', version = 1000 WHERE name = 'pm'$$),
  ($$DELETE FROM ssad.models WHERE name = 'pm'$$),
  ($$INSERT INTO ssad.model_grants VALUES ('pm', 'ssad_priv_other')$$),
  ($$UPDATE ssad.model_grants SET grantee = 'public' WHERE name = 'pm'$$),
  ($$DELETE FROM ssad.model_grants WHERE name = 'pm'$$),
  ($$SELECT nextval('ssad.models_id_seq')$$),
  ($$SELECT setval('ssad.models_id_seq', 1)$$),
  ($$TRUNCATE ssad.models$$)
) AS cases(q);
-- What each role sees: the owner and the granted role the model, the other nothing.
SELECT r AS role, (SELECT pg_temp.probe(r, 'SELECT 1')) AS can_switch,
       (SELECT count(*) FROM ssad.models m WHERE pg_catalog.pg_has_role(r, m.owner, 'MEMBER')
           OR EXISTS (SELECT 1 FROM ssad.model_grants g WHERE g.name = m.name AND (g.grantee = 'public' OR pg_catalog.pg_has_role(r, g.grantee, 'MEMBER')))) AS versions_visible
  FROM unnest(ARRAY['ssad_priv_owner', 'ssad_priv_granted', 'ssad_priv_other']) AS r;

-- Forging ownership: another role trains a model, then renames, renumbers and
-- deactivates its rows onto the owner's name. Refused; ownership stays.
SET ROLE ssad_priv_other;
SELECT version FROM ssad_train('mine', 'pt', exclude => ARRAY['id'], options => '{"epochs": 1}');
SELECT sqlstate_of($$UPDATE ssad.models SET name = 'pm', version = 1000, active = false WHERE name = 'mine'$$) AS forge_update;
SELECT sqlstate_of($$SELECT ssad_rename('mine', 'pm')$$) AS rename_onto_taken_name;
SELECT ssad_drop('mine') AS dropped_own_model;
RESET ROLE;
SELECT ssad.model_owner('pm') AS pm_owner, count(*) AS pm_versions, count(*) FILTER (WHERE active) AS pm_active
  FROM ssad.models WHERE name = 'pm';

-- A grant does not outlive its model: the other role trains 'shared', grants
-- it to public and tries to delete the rows directly (refused), then drops
-- it; the owner's new model of that name starts with no grants.
SET ROLE ssad_priv_other;
SELECT version FROM ssad_train('shared', 'pt', exclude => ARRAY['id'], options => '{"epochs": 1}');
SELECT ssad_grant('shared', 'public');
SELECT sqlstate_of($$DELETE FROM ssad.models WHERE name = 'shared'$$) AS direct_delete;
SELECT ssad_drop('shared') AS dropped;
RESET ROLE;
SELECT count(*) AS grants_left_for_shared FROM ssad.model_grants WHERE name = 'shared';
-- Even a grant left behind by a superuser's direct delete is not inherited.
SET ROLE ssad_priv_other;
SELECT version FROM ssad_train('shared2', 'pt', exclude => ARRAY['id'], options => '{"epochs": 1}');
SELECT ssad_grant('shared2', 'public');
RESET ROLE;
DELETE FROM ssad.models WHERE name = 'shared2';
SET ROLE ssad_priv_owner;
SELECT version FROM ssad_train('shared2', 'pt', exclude => ARRAY['id'], options => '{"epochs": 1}');
RESET ROLE;
SELECT count(*) AS stale_grants_after_new_model FROM ssad.model_grants WHERE name = 'shared2';
SET ROLE ssad_priv_other;
SELECT sqlstate_of($$SELECT ssad_export('shared2')$$) AS other_exports_new_shared2;
RESET ROLE;

-- A whole-table scan reads what the caller's own SELECT would: the rows a
-- policy leaves it, a parent's children, and nothing of a table or a column
-- it may not read. The anomaly (id 301) is hidden from ssad_priv_other.
CREATE TABLE scanned AS SELECT i AS id, (i % 20)::float8 AS x, (3 * (i % 20) + (i % 3) / 10.0)::float8 AS y
  FROM generate_series(1, 300) AS i;
INSERT INTO scanned VALUES (301, 5, 500);
GRANT SELECT ON scanned TO ssad_priv_owner, ssad_priv_other;
ALTER TABLE scanned ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_sees_all ON scanned FOR SELECT TO ssad_priv_owner USING (true);
CREATE POLICY other_sees_some ON scanned FOR SELECT TO ssad_priv_other USING (id <= 200);
SET ROLE ssad_priv_owner;
SELECT version FROM ssad_train('sm', 'scanned', exclude => ARRAY['id'], options => '{"epochs": 2, "seed": 1}');
SELECT ssad_grant('sm', 'ssad_priv_other');
SELECT row_data->>'id' AS owner_top FROM ssad_top_anomalies('sm', k => 1);
RESET ROLE;
SET ROLE ssad_priv_other;
SELECT count(*) AS other_rows, max((row_data->>'id')::int) AS other_max_id FROM ssad_top_anomalies('sm', k => 1000);
SELECT rows_read AS other_drift_rows FROM ssad_drift('sm') WHERE column_name IS NULL;
RESET ROLE;
ALTER TABLE scanned DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON scanned FROM ssad_priv_other;
GRANT SELECT (x, y) ON scanned TO ssad_priv_other;
SET ROLE ssad_priv_other;
SELECT sqlstate_of($$SELECT * FROM ssad_top_anomalies('sm', k => 1)$$) AS other_with_column_grants;
SELECT rows_read AS other_drift_rows_with_column_grants FROM ssad_drift('sm') WHERE column_name IS NULL;
RESET ROLE;
REVOKE SELECT ON scanned FROM ssad_priv_other;
SET ROLE ssad_priv_other;
SELECT sqlstate_of($$SELECT * FROM ssad_top_anomalies('sm', k => 1)$$) AS other_without_select;
SELECT sqlstate_of($$SELECT * FROM ssad_drift('sm')$$) AS other_drift_without_select;
RESET ROLE;
CREATE TABLE scanned_child () INHERITS (scanned);
INSERT INTO scanned_child VALUES (302, 6, -400);
SET ROLE ssad_priv_owner;
SELECT row_data->>'id' AS id_with_child FROM ssad_top_anomalies('sm', k => 2) ORDER BY score DESC;
RESET ROLE;

-- A caller's own operators and functions are never run by ssad's internal
-- SQL: a schema ahead of pg_catalog on the search_path defines = for text
-- and for name, and format_type, each logging every call.
CREATE SCHEMA hostile;
CREATE TABLE hostile.calls (what text);
GRANT USAGE ON SCHEMA hostile TO PUBLIC;
GRANT INSERT, SELECT, DELETE ON hostile.calls TO PUBLIC;
CREATE FUNCTION hostile.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO hostile.calls VALUES ('text =' || current_user); RETURN a OPERATOR(pg_catalog.=) b; END$$;
CREATE FUNCTION hostile.name_eq(a name, b name) RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO hostile.calls VALUES ('name =' || current_user); RETURN a OPERATOR(pg_catalog.=) b; END$$;
CREATE FUNCTION hostile.format_type(oid, integer) RETURNS text LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO hostile.calls VALUES ('format_type ' || current_user); RETURN 'x'; END$$;
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.text_eq);
CREATE OPERATOR hostile.= (LEFTARG = name, RIGHTARG = name, FUNCTION = hostile.name_eq);
SET ROLE ssad_priv_other;
SET search_path = hostile, pg_catalog, public;
-- The hostile = is what the caller's own queries get...
SELECT 'a'::text = 'a'::text AS hostile_operator_in_effect;
SELECT count(*) AS calls_by_the_callers_own_query FROM hostile.calls;
DELETE FROM hostile.calls;
SELECT version FROM ssad_train('hp', 'pt', exclude => ARRAY['id'], options => '{"epochs": 1}');
SELECT version FROM ssad_retrain('hp');
SELECT count(ssad_score('hp', t)) AS scored, count(ssad_score(t)) AS scored_by_table FROM pt t;
SELECT count(*) AS top FROM ssad_top_anomalies('hp', k => 5);
SELECT count(*) > 0 AS explained FROM pt t, ssad_explain('hp', t) e WHERE t.id = 1;
SELECT auroc IS NOT NULL AS evaluated FROM ssad_evaluate('hp', 'pt', 'flag');
SELECT ssad_grant('hp', 'ssad_priv_granted'), ssad_revoke('hp', 'ssad_priv_granted');
SELECT ssad_activate('hp', 1);
SELECT ssad_drop('hp', 2);
SELECT ssad_import('hp2', ssad_export('hp')) AS imported;
SELECT ssad_rename('hp2', 'hp3');
SELECT ssad_drop('hp3') + ssad_drop('hp') AS dropped;
SELECT count(*) AS calls_inside_ssad FROM hostile.calls;
RESET search_path;
RESET ROLE;
ROLLBACK;
