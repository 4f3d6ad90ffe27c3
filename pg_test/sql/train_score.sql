-- Train on a small deterministic table, then score inline.
BEGIN;
SET client_min_messages = warning;  -- per-epoch progress notices carry timings
-- readings: power follows load closely; rows 100 and 200 break the relation.
CREATE TABLE readings AS
SELECT i AS id,
       (i % 40)::int AS load,
       CASE WHEN i IN (100, 200) THEN 5.0 ELSE (3 * (i % 40) + 10 + ((i * 7919) % 11) / 10.0) END::float8 AS power,
       ((i * 104729) % 100 / 10.0)::numeric AS noise
  FROM generate_series(1, 400) AS i;
SELECT model_name, version, rows_used, rows_scanned, columns, skipped_columns
  FROM ssad_train('readings_model', 'readings', exclude => ARRAY['id'], options => '{"seed": 1}');
-- Keys are labels of rows, not measurements (and a new row's key is beyond
-- every trained one): with no columns named, identity and serial columns and
-- the only column of a primary key or unique index are set aside; naming one
-- in columns uses it.
CREATE TABLE keyed (id bigint GENERATED ALWAYS AS IDENTITY, seq serial, code text UNIQUE, part int,
                    ref int, load int, power float8, PRIMARY KEY (part, ref));
INSERT INTO keyed (code, part, ref, load, power)
SELECT 'k' || i, i % 3, i, i % 40, 3 * (i % 40) + 10 FROM generate_series(1, 300) AS i;
SELECT columns, skipped_columns FROM ssad_train('keyed_model', 'keyed', options => '{"seed": 1, "epochs": 2}');
SELECT columns FROM ssad_train('keyed_model', 'keyed', columns => ARRAY['seq', 'load', 'power'], options => '{"seed": 1, "epochs": 2}');
-- Row 100 (power 5 at load 20) comes first; the subtler break, row 200 (power
-- 5 at load 0), comes in the top three, behind row 400, whose load 0 with
-- noise 0 is a combination only rows 200 and 400 have.
SELECT id, load, power FROM readings t ORDER BY ssad_score('readings_model', t) DESC, id LIMIT 3;
-- The broken rows score several times a typical row.
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ssad_score('readings_model', t))::numeric, 1) AS median_score,
       min(ssad_score('readings_model', t)) FILTER (WHERE id IN (100, 200))
         > 3 * percentile_cont(0.5) WITHIN GROUP (ORDER BY ssad_score('readings_model', t)) AS broken_rows_stand_out
  FROM readings t;
-- Binding is by name: another row type with the same column names scores the same.
SELECT ssad_score('readings_model', r) = ssad_score('readings_model', t) AS same_score
  FROM readings t, LATERAL (SELECT t.noise, t.power::float4::float8 AS power, t.load::bigint AS load) r
 WHERE t.id = 100;
-- NULL values are scored (missing is information), a NULL row gives NULL.
SELECT ssad_score('readings_model', r) > 0 AS null_value_scored
  FROM (SELECT 3 AS load, NULL::float8 AS power, 1.0 AS noise) r;
SELECT ssad_score('readings_model', NULL::readings) IS NULL AS null_row_is_null;
-- A retrain is a new active version; the old one is kept.
SELECT version FROM ssad_train('readings_model', 'readings', columns => ARRAY['load', 'power'], options => '{"seed": 1, "epochs": 5}');
SELECT name, version, active, source, format_version, options->>'seed' AS seed, jsonb_array_length(columns) AS n_columns
  FROM ssad.models ORDER BY version, name;
ROLLBACK;
