-- Every user error has a SQLSTATE, a message, and leaves the catalog untouched.
BEGIN;
SET client_min_messages = warning;
CREATE TABLE empty (x float8);
CREATE TABLE t AS SELECT i AS a, (i * 2.5)::float8 AS b, 'x' || i AS label, jsonb_build_object('i', i) AS doc FROM generate_series(1, 100) AS i;
SELECT q, sqlstate_of(q) FROM (VALUES
  ($$SELECT ssad_score('missing', t) FROM t$$),
  ($$SELECT ssad_train('m', 't', columns => ARRAY['a', 'nope'])$$),
  ($$SELECT ssad_train('m', 't', exclude => ARRAY['nope'])$$),
  ($$SELECT ssad_train('m', 't', columns => ARRAY['a', 'doc'])$$),
  ($$SELECT ssad_train('m', 'no_such_table')$$),
  ($$SELECT ssad_train('m', 't', options => '{"epochz": 1}')$$),
  ($$SELECT ssad_train('m', 't', options => '{"hidden": 1}')$$),
  ($$SELECT ssad_train('m', 't', options => '{"epochs": "3"}')$$),
  ($$SELECT ssad_train('m', 't', options => '[1]')$$),
  ($$SELECT ssad_train('', 't')$$),
  ($$SELECT ssad_train('m', '(SELECT 1)')$$),
  ($$SELECT ssad_train('m', 'empty')$$)
) AS cases(q);
SELECT count(*) AS models_stored FROM ssad.models;
-- A model exists; a row missing one of its columns, or of the wrong type, is an error.
SELECT version FROM ssad_train('m', 't', columns => ARRAY['a', 'b'], options => '{"epochs": 2}');
-- Labels in scikit-learn's -1/1 convention are not read as anomalies for every non-zero.
CREATE TABLE labelled AS SELECT a, b, CASE WHEN a % 10 = 0 THEN -1 ELSE 1 END AS sk FROM t;
SELECT q, sqlstate_of(q) FROM (VALUES
  ($$SELECT ssad_evaluate('m', 'labelled', 'sk')$$),
  ($$SELECT ssad_score('m', r) FROM (SELECT 1 AS a) r$$),
  ($$SELECT ssad_score('m', r) FROM (SELECT 1 AS a, 'x'::text AS b) r$$),
  ($$SELECT ssad_score('m', 42)$$)
) AS cases(q);
-- The full report of one error: message, detail and hint.
\set VERBOSITY default
SAVEPOINT report;
SELECT ssad_train('m', 't', columns => ARRAY['doc']);
ROLLBACK TO SAVEPOINT report;
SELECT ssad_train('m', 't', exclude => ARRAY['a', 'b', 'label']);
ROLLBACK;
