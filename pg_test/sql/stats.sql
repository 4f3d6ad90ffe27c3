-- ssad.model_stats: usage counters per model version. This cluster does not
-- preload ssad, so the counters are this session's own (counted = session).
BEGIN;
SET client_min_messages = warning;
CREATE TABLE st AS SELECT i AS id, (i % 30)::float8 AS x, (i % 30 * 2 + (i % 7) / 10.0)::float8 AS y
  FROM generate_series(1, 500) i;
SELECT version FROM ssad_train('st_model', 'st', exclude => ARRAY['id'], options => '{"seed": 3, "epochs": 2}');
SELECT name, version, active, sample_rows, train_seconds > 0 AS timed, trained_at = now() AS trained_now,
       rows_scored, rows_flagged, topk_scans, topk_rows, counted, counted_since
  FROM ssad.model_stats WHERE name = 'st_model';
-- Inline scoring, flags and a top-k scan, each counted.
SELECT count(ssad_score('st_model', t)) FROM st t;
SELECT count(ssad_quantile('st_model', t)) FROM st t WHERE id <= 20;
SELECT count(*) FILTER (WHERE ssad_is_anomaly('st_model', t, 0.5)) = (
         SELECT count(*) FROM st u WHERE ssad_quantile('st_model', u) > 0.5) AS flags_agree
  FROM st t;
SELECT count(*) FROM ssad_top_anomalies('st_model', k => 3);
SELECT rows_scored, rows_flagged > 0 AS flagged_some, topk_scans, topk_rows
  FROM ssad.model_stats WHERE name = 'st_model';
-- The flags are the true answers of ssad_is_anomaly.
SELECT rows_flagged = (SELECT count(*) FROM st u WHERE ssad_quantile('st_model', u) > 0.5) AS flags_counted
  FROM ssad.model_stats WHERE name = 'st_model';
-- A role sees the counters of the models it may see only.
CREATE ROLE ssad_stats_nobody;
SET LOCAL ROLE ssad_stats_nobody;
SELECT count(*) AS visible FROM ssad.model_stats;
SELECT count(*) AS visible FROM ssad.model_counters();
RESET ROLE;
-- Resetting is not for every role; a superuser may.
SELECT sqlstate_of($$SET LOCAL ROLE ssad_stats_nobody; SELECT ssad.stats_reset()$$);
SELECT ssad.stats_reset();
SELECT rows_scored, rows_flagged, topk_scans, topk_rows FROM ssad.model_stats WHERE name = 'st_model';
ROLLBACK;
