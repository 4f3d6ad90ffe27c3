-- A hostile battery: what a careless or malicious caller can pass to each
-- function, by class (options, names, sources, columns, scoring, top-k,
-- evaluation, model management, damaged bytes, settings), each case with its
-- SQLSTATE ('ok' when it must succeed). Every case runs in a subtransaction
-- (sqlstate_of); the catalog is checked unchanged at the end.
BEGIN;
SET client_min_messages = warning;
CREATE TABLE h AS SELECT i AS id, (i % 20)::float8 AS a, (3 * (i % 20) + (i % 3) / 10.0)::float8 AS b,
       (ARRAY['x', 'y', 'z'])[1 + i % 3] AS c, (i % 7)::numeric AS n,
       timestamptz '2026-01-01 00:00+00' + i * interval '1 hour' AS ts, (i % 50 = 0) AS label, (i % 2) * 2 - 1 AS sk_label
  FROM generate_series(1, 400) AS i;
CREATE TABLE h_empty (a float8);
CREATE TABLE h_doc (d jsonb);
INSERT INTO h_doc SELECT jsonb_build_object('i', i) FROM generate_series(1, 200) i;
CREATE SEQUENCE h_seq;
CREATE INDEX h_idx ON h (a);
CREATE TYPE h_comp AS (a float8, b float8);
CREATE VIEW h_view AS SELECT a, b, c FROM h;
CREATE MATERIALIZED VIEW h_mat AS SELECT a, b, c FROM h;
CREATE TABLE h_part (a float8, b float8) PARTITION BY RANGE (a);
CREATE TABLE h_part_1 PARTITION OF h_part FOR VALUES FROM (MINVALUE) TO (10);
CREATE TABLE h_part_2 PARTITION OF h_part FOR VALUES FROM (10) TO (MAXVALUE);
INSERT INTO h_part SELECT a, b FROM h;
CREATE ROLE ssad_hostile_nobody;
SELECT version FROM ssad_train('hm', 'h', exclude => ARRAY['id', 'label', 'sk_label'], options => '{"epochs": 2, "seed": 1}');
SELECT count(*) AS versions_before FROM ssad.models \gset
SELECT md5(string_agg(model::text, ',' ORDER BY id)) AS catalog_before FROM ssad.models \gset
SELECT row_number() OVER () AS n, class, q AS statement, sqlstate_of(q) AS outcome FROM (VALUES
  -- Options: every bad key, type and range is 22023.
  ('options', $$SELECT ssad_train('o', 'h', options => '{"epochs": 0}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"epochs": 1001}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"epochs": "3"}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"epochs": 1.5}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"hidden": 3}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"hidden": 1025}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"mask_rate": -0.1}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"mask_rate": 1.5}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"sample_size": 99}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"sample_size": 1000001}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"threads": 0}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"threads": 257}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"contamination": 0.6}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"distill": "yes"}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"seed": -1}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"clean": "true"}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"clean": null}')$$),
  ('options', $$SELECT ssad_train('o', 'h', exclude => ARRAY['id', 'label', 'sk_label'], options => '{"clean": true, "epochs": 1}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"epoch": 3}')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '[1]')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => 'null')$$),
  ('options', $$SELECT ssad_train('o', 'h', options => '{"epochs": {"n": 3}}')$$),
  -- Names.
  ('names', $$SELECT ssad_train(NULL, 'h')$$),
  ('names', $$SELECT ssad_train('', 'h')$$),
  ('names', $$SELECT ssad_train('   ', 'h')$$),
  ('names', $$SELECT ssad_train(repeat('x', 64), 'h')$$),
  ('names', $$SELECT ssad_rename('hm', '')$$),
  ('names', $$SELECT ssad_rename('hm', repeat('y', 64))$$),
  ('names', $$SELECT ssad_import('', ssad_export('hm'))$$),
  -- Sources: only tables, views and materialized views hold rows to learn from.
  ('sources', $$SELECT ssad_train('s', NULL)$$),
  ('sources', $$SELECT ssad_train('s', 'no_such_table')$$),
  ('sources', $$SELECT ssad_train('s', 'h_seq')$$),
  ('sources', $$SELECT ssad_train('s', 'h_idx')$$),
  ('sources', $$SELECT ssad_train('s', 'h_comp')$$),
  ('sources', $$SELECT ssad_train('s', 'h_empty')$$),
  ('sources', $$SELECT ssad_train('s', 'h_doc')$$),
  ('sources', $$SELECT ssad_train('s', 'h_view', options => '{"epochs": 1}')$$),
  ('sources', $$SELECT ssad_train('s', 'h_mat', options => '{"epochs": 1}')$$),
  ('sources', $$SELECT ssad_train('s', 'h_part', options => '{"epochs": 1}')$$),
  -- Columns: NULL elements, contradictions, unknown names, nothing left.
  ('columns', $$SELECT ssad_train('c', 'h', columns => ARRAY['a', NULL])$$),
  ('columns', $$SELECT ssad_train('c', 'h', exclude => ARRAY[NULL]::text[])$$),
  ('columns', $$SELECT ssad_train('c', 'h', columns => ARRAY['a', 'b'], exclude => ARRAY['b'])$$),
  ('columns', $$SELECT ssad_train('c', 'h', columns => ARRAY['nope'])$$),
  ('columns', $$SELECT ssad_train('c', 'h', exclude => ARRAY['nope'])$$),
  ('columns', $$SELECT ssad_train('c', 'h', columns => ARRAY[]::text[])$$),
  ('columns', $$SELECT ssad_train('c', 'h', exclude => ARRAY['id', 'a', 'b', 'c', 'n', 'ts', 'label', 'sk_label'])$$),
  ('columns', $$SELECT ssad_train('c', 'h_doc', columns => ARRAY['d'])$$),
  -- Scoring: unknown models, rows of the wrong shape, bad thresholds.
  ('scoring', $$SELECT ssad_score('missing', t) FROM h t$$),
  ('scoring', $$SELECT ssad_score('hm', r) FROM (SELECT 1.0::float8 AS a) r$$),
  ('scoring', $$SELECT ssad_score('hm', r) FROM (SELECT 'x'::text AS a, 1.0::float8 AS b, 'x' AS c, 1::numeric AS n, now() AS ts) r$$),
  ('scoring', $$SELECT ssad_score('hm', 42)$$),
  ('scoring', $$SELECT ssad_score(ROW(1.0)::h_empty)$$),
  ('scoring', $$SELECT ssad_quantile('missing', t) FROM h t$$),
  ('scoring', $$SELECT ssad_is_anomaly('hm', t, 2) FROM h t$$),
  ('scoring', $$SELECT ssad_is_anomaly('hm', t, -0.1) FROM h t$$),
  ('scoring', $$SELECT ssad_is_anomaly('hm', t, 'NaN') FROM h t$$),
  ('scoring', $$SELECT ssad_explain('missing', t) FROM h t$$),
  ('scoring', $$SELECT ssad_embed('hm', r) FROM (SELECT 1 AS a) r$$),
  -- Top-k.
  ('top-k', $$SELECT * FROM ssad_top_anomalies('hm', k => 0)$$),
  ('top-k', $$SELECT * FROM ssad_top_anomalies('hm', k => -5)$$),
  ('top-k', $$SELECT * FROM ssad_top_anomalies('hm', k => 100001)$$),
  ('top-k', $$SELECT * FROM ssad_top_anomalies('hm', k => NULL)$$),
  ('top-k', $$SELECT * FROM ssad_top_anomalies(NULL)$$),
  ('top-k', $$SELECT * FROM ssad_top_anomalies('hm', 'h_seq')$$),
  ('top-k', $$SELECT * FROM ssad_top_anomalies('hm', 'h_doc')$$),
  ('top-k', $$SELECT * FROM ssad_top_anomalies('hm', k => 100000)$$),
  -- Evaluation.
  ('evaluate', $$SELECT * FROM ssad_evaluate('hm', 'h', 'nope')$$),
  ('evaluate', $$SELECT * FROM ssad_evaluate('hm', 'h', 'c')$$),
  ('evaluate', $$SELECT * FROM ssad_evaluate('hm', 'h', 'sk_label')$$),
  ('evaluate', $$SELECT * FROM ssad_evaluate('hm', 'h_seq', 'label')$$),
  ('evaluate', $$SELECT * FROM ssad_evaluate('hm', 'h', 'label')$$),
  -- Model management.
  ('models', $$SELECT ssad_activate('hm', 9)$$),
  ('models', $$SELECT ssad_activate('missing', 1)$$),
  ('models', $$SELECT ssad_drop('hm', 1)$$),
  ('models', $$SELECT ssad_drop(NULL)$$),
  ('models', $$SELECT ssad_drop('hm', 9)$$),
  ('models', $$SELECT ssad_rename('hm', 'hm')$$),
  ('models', $$SELECT ssad_rename('missing', 'x')$$),
  ('models', $$SELECT ssad_grant('hm', 'no_such_role')$$),
  ('models', $$SELECT ssad_revoke('hm', 'no_such_role')$$),
  ('models', $$SELECT ssad_retrain('missing')$$),
  -- Damaged bytes: not an export (22P03), or an export whose model bytes are damaged (XX001).
  ('bytes', $$SELECT ssad_import('x', '\x0102'::bytea)$$),
  ('bytes', $$SELECT ssad_import('x', ''::bytea)$$),
  ('bytes', $$SELECT ssad_import('x', 'SSADEXP1'::bytea)$$),
  ('bytes', $$SELECT ssad_import('x', 'SSADEXP1'::bytea || '\xffffffff'::bytea)$$),
  ('bytes', $$SELECT ssad_import('x', 'SSADEXP1'::bytea || '\x02000000'::bytea || '{}'::bytea)$$),
  ('bytes', $$SELECT ssad_import('x', substr(ssad_export('hm'), 1, length(ssad_export('hm')) - 10))$$),
  ('bytes', $$SELECT ssad_import('x', overlay(ssad_export('hm') placing '\x00000000'::bytea from length(ssad_export('hm')) - 200))$$),
  ('bytes', $$SELECT ssad_import('x', ssad_export('hm') || '\x00'::bytea)$$),
  -- Settings.
  ('settings', $$SET LOCAL ssad.threads = 0$$),
  ('settings', $$SET LOCAL ssad.threads = 'two'$$),
  ('settings', $$SET LOCAL ssad.sample_size = 99$$),
  ('settings', $$SET LOCAL ssad.model_cache_size = 0$$),
  ('settings', $$SET LOCAL ssad.versions_kept = -1$$),
  ('settings', $$SET LOCAL ssad.thread = 2$$),
  -- Privileges of a role with no SELECT on the source.
  ('privileges', $$SET LOCAL ROLE ssad_hostile_nobody; SELECT ssad_train('p', 'h')$$),
  ('privileges', $$SET LOCAL ROLE ssad_hostile_nobody; SELECT ssad_score('hm', ROW(1.0, 2.0, 'x', 1, now())::record)$$)
) AS cases(class, q);
-- Scores at the extremes: a score is never NaN; a value beyond every
-- training value saturates to a very high score (1e308 and a numeric beyond
-- float8's range score as an infinity does); a NaN never seen in training
-- is flagged; a numeric below float8's smallest magnitude reads as 0.
CREATE TEMP TABLE probe AS
SELECT p.what, ssad_score('hm', r) AS score, ssad_quantile('hm', r) AS quantile, ssad_is_anomaly('hm', r) AS flagged
  FROM (VALUES ('a 1e308', 1e308::float8, 1::numeric), ('a -1e308', -1e308, 1), ('a Infinity', 'Infinity', 1),
               ('a -Infinity', '-Infinity', 1), ('a NaN', 'NaN', 1), ('n 10^999', 5, 10::numeric ^ 999),
               ('n -10^999', 5, -(10::numeric ^ 999)), ('n Infinity', 5, 'Infinity'), ('n NaN', 5, 'NaN'),
               ('n 1e-400', 5, 1e-400), ('ordinary', 5, 5)) AS p(what, a, n),
       LATERAL (SELECT p.a AS a, 15.0::float8 AS b, 'x'::text AS c, p.n AS n, timestamptz '2026-01-05 00:00+00' AS ts) r;
SELECT what, score = 'NaN' AS nan, score > (SELECT max(ssad_score('hm', t)) FROM h t) AS above_every_training_row,
       round(quantile::numeric, 2) AS quantile, flagged
  FROM probe ORDER BY what;
SELECT count(DISTINCT score) FILTER (WHERE what IN ('a 1e308', 'a Infinity')) AS a_saturates_to_one_score,
       count(DISTINCT score) FILTER (WHERE what IN ('n 10^999', 'n Infinity')) AS n_saturates_to_one_score
  FROM probe;
-- A table holding such values trains, and top-k returns them in the order
-- ORDER BY ssad_score(...) DESC gives.
CREATE TABLE hx AS SELECT id, a, b, n FROM h;
INSERT INTO hx VALUES (1001, 1e308, 1, 1), (1002, -1e308, 1, 1), (1003, 'Infinity', 1, 1), (1004, 'NaN', 1, 1),
                      (1005, 1e307, 1, 1), (1006, 1, 1, 10::numeric ^ 999), (1007, 1, 1, -(10::numeric ^ 400));
SELECT rows_used FROM ssad_train('hx', 'hx', exclude => ARRAY['id'], options => '{"epochs": 2, "seed": 1}');
SELECT count(*) FILTER (WHERE score = 'NaN') AS nan_scores,
       count(*) FILTER (WHERE (row_data->>'id')::int > 1000) AS extreme_rows_in_top_10
  FROM ssad_top_anomalies('hx', k => 10);
SELECT (SELECT array_agg(score ORDER BY score DESC) FROM ssad_top_anomalies('hx', k => 30))
     = (SELECT array_agg(s ORDER BY s DESC) FROM (SELECT ssad_score('hx', t) AS s FROM hx t ORDER BY s DESC LIMIT 30) o)
       AS topk_scores_as_order_by,
       (SELECT array_agg(ctid ORDER BY ctid) FROM ssad_top_anomalies('hx', k => 30))
     = (SELECT array_agg(ctid ORDER BY ctid) FROM (SELECT t.ctid FROM hx t ORDER BY ssad_score('hx', t) DESC LIMIT 30) o)
       AS topk_rows_as_order_by;
-- A NaN common in training is an ordinary value.
CREATE TABLE hn AS SELECT CASE WHEN i % 4 = 0 THEN 'NaN'::float8 ELSE (i % 20)::float8 END AS a, (3 * (i % 20))::float8 AS b
  FROM generate_series(1, 400) i;
SELECT rows_used FROM ssad_train('hn', 'hn', options => '{"epochs": 2, "seed": 1}');
SELECT ssad_is_anomaly('hn', r) AS common_nan_flagged FROM (SELECT 'NaN'::float8 AS a, 30.0::float8 AS b) r;
-- Nothing a failing case tried was stored, and nothing stored was changed.
SELECT count(*) - :versions_before AS versions_added_by_the_ok_cases FROM ssad.models;
SELECT md5(string_agg(model::text, ',' ORDER BY id)) = :'catalog_before' AS hm_unchanged FROM ssad.models WHERE name = 'hm';
-- The sequence case names what it is, with the hint.
\set VERBOSITY default
SAVEPOINT s;
SELECT ssad_train('s', 'h_seq');
ROLLBACK TO SAVEPOINT s;
SELECT ssad_train('c', 'h', columns => ARRAY['a', NULL]);
ROLLBACK TO SAVEPOINT s;
SELECT ssad_train('c', 'h', columns => ARRAY['a', 'b'], exclude => ARRAY['b']);
ROLLBACK TO SAVEPOINT s;
\set VERBOSITY terse
-- A retrain after a column the model reads was dropped: with columns given,
-- 42703 and the active version stays; without, the model follows the table
-- and says which column left.
SELECT version FROM ssad_train('rc', 'h', columns => ARRAY['a', 'b', 'n'], options => '{"epochs": 1}');
SELECT version FROM ssad_train('rn', 'h', exclude => ARRAY['id', 'label', 'sk_label'], options => '{"epochs": 1}');
ALTER TABLE h DROP COLUMN n;
SELECT sqlstate_of($$SELECT ssad_retrain('rc')$$) AS columns_given;
SELECT version, active FROM ssad.models WHERE name = 'rc';
SET client_min_messages = notice;
SELECT version, columns FROM ssad_retrain('rn');
SET client_min_messages = warning;
ROLLBACK;
-- A misspelt setting: Postgres takes any ssad.* name as a placeholder until
-- ssad is loaded in the session; loading it removes the placeholder with a
-- WARNING, and from then on the name is refused.
\c
SET ssad.thread = 2;
SELECT ssad_train(NULL, NULL) IS NULL AS loads_ssad_and_fails;
SELECT sqlstate_of($$SET ssad.thread = 2$$) AS misspelt_after_load;
SELECT sqlstate_of($$SHOW ssad.thread$$) AS placeholder_gone;
