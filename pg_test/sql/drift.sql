-- Drift: ssad_drift against what the model stored at training, and
-- ssad_retrain_if_drifted. Tables are built from a hash of the row number,
-- so every run sees the same rows.
BEGIN;
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.u(i int, salt int) RETURNS float8 LANGUAGE sql IMMUTABLE AS
  $$ SELECT (('x' || substr(md5(i::text || '/' || salt::text), 1, 8))::bit(32)::bigint / 4294967296.0)::float8 $$;
-- a ~ N(0, 1) (Box-Muller), b = 2a + noise, kind 'x' for 70% of the rows.
CREATE FUNCTION pg_temp.rows(n int, salt int, shift float8, px float8)
  RETURNS TABLE (id int, a float8, b float8, kind text) LANGUAGE sql AS $$
  SELECT i, z + shift, 2 * z + 0.3 * w, CASE WHEN pg_temp.u(i, salt + 3) < px THEN 'x' ELSE 'y' END
    FROM (SELECT i, sqrt(-2 * ln(1 - pg_temp.u(i, salt))) * cos(2 * pi() * pg_temp.u(i, salt + 1)) AS z,
                 sqrt(-2 * ln(1 - pg_temp.u(i, salt + 2))) * cos(2 * pi() * pg_temp.u(i, salt + 4)) AS w
            FROM generate_series(1, n) AS i) g $$;
CREATE TABLE pay AS SELECT * FROM pg_temp.rows(4000, 10, 0, 0.7);
CREATE TABLE pay_fresh AS SELECT * FROM pg_temp.rows(3000, 20, 0, 0.7);
CREATE TABLE pay_moved AS SELECT * FROM pg_temp.rows(3000, 30, 1, 0.3);
SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{"seed": 3, "epochs": 3}');

-- The training table itself (the default source) and a fresh sample of the
-- same distribution: nothing drifted. The score's row comes first.
SELECT coalesce(column_name, '(score)') AS col, kind, drifted, psi < 0.1 AS small_psi, rows_read
  FROM ssad_drift('pay_model');
SELECT coalesce(column_name, '(score)') AS col, kind, drifted, psi < 0.1 AS small_psi,
       round(above_p99::numeric, 1) AS above_p99, ks < 0.1 AS small_ks, unseen, rows_read
  FROM ssad_drift('pay_model', 'pay_fresh');

-- a moved by one standard deviation, kind's frequencies swapped: the score
-- first, then those two, drifted; b stays.
SELECT coalesce(column_name, '(score)') AS col, drifted, psi > 0.2 AS large_psi,
       ks > 0.3 AS large_ks, above_p99 > 0.05 AS many_above_p99
  FROM ssad_drift('pay_model', 'pay_moved');

-- Values the model never saw, and NULLs.
CREATE TABLE pay_odd AS SELECT id, CASE WHEN id % 2 = 0 THEN NULL ELSE a END AS a, b,
       CASE WHEN id % 2 = 0 THEN 'never seen' ELSE kind END AS kind FROM pay_fresh;
SELECT column_name, drifted, round(unseen::numeric, 2) AS unseen
  FROM ssad_drift('pay_model', 'pay_odd') WHERE column_name IS NOT NULL ORDER BY column_name;

-- A sample: BERNOULLI keeps about that share of the rows.
SELECT min(rows_read) BETWEEN 1200 AND 1800 AS about_half, bool_or(drifted) AS any_drifted
  FROM ssad_drift('pay_model', 'pay_fresh', sample_percent => 50);
SAVEPOINT s;
SELECT * FROM ssad_drift('pay_model', sample_percent => 0);
ROLLBACK TO s;
SELECT * FROM ssad_drift('pay_model', sample_percent => 101);
ROLLBACK TO s;
SELECT * FROM ssad_drift(NULL);
ROLLBACK TO s;
SELECT * FROM ssad_drift('no_such_model');
ROLLBACK TO s;

-- Retraining only when it matters: not on the unchanged table (NULL, a
-- NOTICE), then after a's values move.
SET client_min_messages = notice;
SELECT ssad_retrain_if_drifted('pay_model') AS new_version;
UPDATE pay SET a = a + 1, kind = CASE kind WHEN 'x' THEN 'y' ELSE 'x' END;
SELECT ssad_retrain_if_drifted('pay_model') AS new_version;
SET client_min_messages = warning;
SELECT version, active FROM ssad.models WHERE name = 'pay_model' ORDER BY version;
-- The new version learned the moved table: it has not drifted from it.
SELECT bool_or(drifted) AS any_drifted FROM ssad_drift('pay_model');

-- Who may: a role the model is granted to reads its drift; only the owner
-- retrains (42501); a role without a grant does not see the model.
CREATE ROLE ssad_drift_reader;
CREATE ROLE ssad_drift_other;
GRANT SELECT ON pay_fresh TO ssad_drift_reader, ssad_drift_other;
SELECT ssad_grant('pay_model', 'ssad_drift_reader');
SET ROLE ssad_drift_reader;
SELECT count(*) AS rows FROM ssad_drift('pay_model', 'pay_fresh');
SAVEPOINT r;
SELECT ssad_retrain_if_drifted('pay_model');
ROLLBACK TO r;
SET ROLE ssad_drift_other;
SAVEPOINT o;
SELECT count(*) FROM ssad_drift('pay_model', 'pay_fresh');
ROLLBACK TO o;
RESET ROLE;
ROLLBACK;
