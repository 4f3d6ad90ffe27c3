-- Whole-table functions and thresholds: top-k with explanations, evaluation
-- against labels, quantiles, the anomaly flag, embeddings.
BEGIN;
SET client_min_messages = warning;
CREATE TABLE sensor AS
SELECT i AS id,
       (i % 40)::float8 AS load,
       CASE WHEN i % 250 = 0 THEN 500.0 ELSE 3 * (i % 40) + 10 + (i * 7919 % 11) / 10.0 END::float8 AS power,
       (i % 250 = 0) AS broken
  FROM generate_series(1, 5000) AS i;
SELECT version FROM ssad_train('sensor_model', 'sensor', exclude => ARRAY['id', 'broken'], options => '{"seed": 4}');
-- The 5 most anomalous rows of the training table (the default source).
SELECT ctid, row_data->>'id' AS id, top_column, round(quantile::numeric, 2) AS quantile, score > 0 AS positive
  FROM ssad_top_anomalies('sensor_model', k => 5)
 ORDER BY score DESC;
-- Every row's top-k score is its inline score, bit for bit: the scan holds
-- its rows as compact cells and scores a repeated row once per fetch (the
-- 5,000 rows hold some 440 distinct ones).
SELECT count(*) AS rows, bool_and(a.score = ssad_score('sensor_model', s)) AS same_as_inline
  FROM ssad_top_anomalies('sensor_model', k => 5000) a JOIN sensor s ON s.ctid = a.ctid;
-- The same with text, NULLs and repeated rows (text rows are never grouped).
CREATE TABLE tagged AS
SELECT (i % 7)::float8 AS x, CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 3)::float8 END AS y,
       (ARRAY['red', 'green', NULL])[1 + i % 3] AS tag
  FROM generate_series(1, 3000) AS i;
SELECT version FROM ssad_train('tagged_model', 'tagged', options => '{"seed": 2}');
SELECT count(*) AS rows, bool_and(a.score = ssad_score('tagged_model', t)) AS same_as_inline
  FROM ssad_top_anomalies('tagged_model', k => 3000) a JOIN tagged t ON t.ctid = a.ctid;
-- Same answer through a view (no ctid there: the row comes with the result).
CREATE VIEW sensor_view AS SELECT * FROM sensor WHERE id > 4000;
SELECT ctid IS NULL AS no_ctid, row_data->>'id' AS id FROM ssad_top_anomalies('sensor_model', 'sensor_view', 3) ORDER BY score DESC;
-- A column named t: the row handed back is the row, not that column.
CREATE TABLE shadow AS SELECT load, power, id::float8 AS t FROM sensor;
SELECT version FROM ssad_train('shadow_model', 'shadow', options => '{"seed": 4, "epochs": 2}');
SELECT jsonb_typeof(row_data) AS kind, row_data ? 'power' AS has_power FROM ssad_top_anomalies('shadow_model', k => 1);
CREATE VIEW shadow_view AS SELECT * FROM shadow;
SELECT jsonb_typeof(row_data) AS kind, row_data ? 'power' AS has_power FROM ssad_top_anomalies('shadow_model', 'shadow_view', 1);
-- A partitioned table: a ctid alone does not tell the partitions apart, so a
-- kept row is found again by its partition too (the anomaly is the first row
-- of parted_b, at the ctid of parted_a's first row).
CREATE TABLE parted (day int, v float8, w float8) PARTITION BY RANGE (day);
CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (0) TO (10);
CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (10) TO (20);
INSERT INTO parted VALUES (15, 100, -50);
INSERT INTO parted SELECT i % 20, (i % 13)::float8, 2 * (i % 13) + (i % 7) * 0.1 FROM generate_series(1, 4000) AS i;
SELECT version FROM ssad_train('parted_model', 'parted', options => '{"seed": 1}');
SELECT ctid, row_data->>'day' AS day, row_data->>'v' AS v, top_column FROM ssad_top_anomalies('parted_model', k => 1);
-- Evaluation against the labels, which training never saw.
SELECT round(auroc::numeric, 3) AS auroc, round(auprc::numeric, 3) AS auprc, round(precision_at_k::numeric, 3) AS precision_at_k, rows, anomalies
  FROM ssad_evaluate('sensor_model', 'sensor', 'broken');
-- Quantiles are in [0, 1]; the flag follows the model's contamination (1%) or the one given.
SELECT min(ssad_quantile('sensor_model', t)) >= 0 AND max(ssad_quantile('sensor_model', t)) <= 1 AS in_range,
       count(*) FILTER (WHERE ssad_is_anomaly('sensor_model', t) AND broken) AS flagged_broken,
       count(*) FILTER (WHERE ssad_is_anomaly('sensor_model', t)) BETWEEN 20 AND 120 AS about_one_percent_flagged,
       count(*) FILTER (WHERE ssad_is_anomaly('sensor_model', t, 0.2)) > count(*) FILTER (WHERE ssad_is_anomaly('sensor_model', t)) AS wider_with_higher_contamination
  FROM sensor t;
-- Embeddings: the width of the last hidden layer (at most 64), alike rows closer than unlike ones.
SELECT array_length(ssad_embed('sensor_model', t), 1) = (SELECT least((options->>'hidden')::int, 64) FROM ssad.models WHERE name = 'sensor_model') AS hidden_width
  FROM sensor t WHERE id = 1;
WITH e AS (SELECT id, ssad_embed('sensor_model', t) AS v FROM sensor t WHERE id IN (1, 41, 250))
SELECT (SELECT sum((a - b) ^ 2) FROM unnest((SELECT v FROM e WHERE id = 1), (SELECT v FROM e WHERE id = 41)) AS u(a, b))
     < (SELECT sum((a - b) ^ 2) FROM unnest((SELECT v FROM e WHERE id = 1), (SELECT v FROM e WHERE id = 250)) AS u(a, b)) AS alike_rows_closer;
ROLLBACK;
