-- ssad 0.4.0 -> 0.5.0: usage counters. ssad.model_stats shows, per model
-- version the role can see, the rows scored inline, the rows flagged by
-- ssad_is_anomaly, the top-k scans and the rows they read, beside the
-- training's time, duration and sample size. Counted in shared memory when
-- ssad is in shared_preload_libraries, else per session.
\echo Use "ALTER EXTENSION ssad UPDATE TO '0.5.0'" to load this file. \quit

CREATE FUNCTION ssad.model_counters() RETURNS TABLE (
    id bigint, rows_scored bigint, rows_flagged bigint, topk_scans bigint, topk_rows bigint,
    counted text, counted_since timestamptz)
  STABLE PARALLEL RESTRICTED LANGUAGE c
  AS 'MODULE_PATHNAME', 'model_counters_wrapper';

CREATE FUNCTION ssad.stats_reset() RETURNS void
  VOLATILE PARALLEL UNSAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'stats_reset_wrapper';
REVOKE ALL ON FUNCTION ssad.stats_reset() FROM PUBLIC;

CREATE VIEW ssad.model_stats WITH (security_barrier, security_invoker) AS
SELECT m.name, m.version, m.active, m.owner,
       m.created_at AS trained_at,
       (m.metrics->>'train_seconds')::float8 AS train_seconds,
       (m.metrics->>'rows_used')::bigint AS sample_rows,
       c.rows_scored, c.rows_flagged, c.topk_scans, c.topk_rows,
       c.counted, c.counted_since
  FROM ssad.models m JOIN ssad.model_counters() c ON c.id = m.id;
GRANT SELECT ON ssad.model_stats TO PUBLIC;
COMMENT ON FUNCTION ssad.model_counters() IS
  'Usage counters of every model version the current role can see (by id): rows scored inline, rows flagged by ssad_is_anomaly, top-k scans and rows. counted: server (ssad in shared_preload_libraries: every backend''s counts since counted_since) or session (this session''s counts only). Read through ssad.model_stats.';
COMMENT ON FUNCTION ssad.stats_reset() IS
  'Set every ssad usage counter to zero (the server''s, or this session''s without shared_preload_libraries). Superusers only unless granted.';
COMMENT ON VIEW ssad.model_stats IS
  'ssad models for monitoring: one row per version the role can see, with its training (time, seconds, sample rows) and usage counters (rows scored, rows flagged, top-k scans and rows read); see counted for what the counters cover.';
