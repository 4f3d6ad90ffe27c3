-- ssad_score is PARALLEL SAFE: a parallel plan scores in the workers and
-- gives the same result as a serial one.
SET client_min_messages = warning;
CREATE TABLE par AS SELECT i AS id, (i % 50)::float8 AS x, (2 * (i % 50) + (i % 7) / 10.0)::float8 AS y
  FROM generate_series(1, 20000) AS i;
ANALYZE par;
SELECT version FROM ssad_train('par_model', 'par', exclude => ARRAY['id'], options => '{"epochs": 2, "seed": 3}');
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT sum(ssad_score('par_model', t)) FROM par t;
SELECT round(sum(ssad_score('par_model', t))::numeric, 6) AS parallel_sum FROM par t \gset
SET max_parallel_workers_per_gather = 0;
SELECT :parallel_sum = round(sum(ssad_score('par_model', t))::numeric, 6) AS same_as_serial FROM par t;
RESET ALL;
DROP TABLE par;
DELETE FROM ssad.models WHERE name = 'par_model';
