-- ssad 0.3.0 -> 0.4.0: scale-out on Citus. On a coordinator, every change of
-- a model is pushed to the workers (ssad.apply_models there), ssad_sync
-- repairs a worker that missed one, and a distributed table's top-k runs on
-- its shards (ssad_shard_top_anomalies also says which shard). Nothing changes
-- without Citus. Drift: ssad_drift compares a table with what a model stored
-- at training, ssad_retrain_if_drifted retrains only when it has moved.
\echo Use "ALTER EXTENSION ssad UPDATE TO '0.4.0'" to load this file. \quit

CREATE FUNCTION ssad.apply_models(state jsonb) RETURNS bigint
  VOLATILE STRICT PARALLEL UNSAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'apply_models_wrapper';

CREATE FUNCTION "ssad_shard_top_anomalies"(
	"model_name" TEXT,
	"source" regclass DEFAULT NULL,
	"k" INT DEFAULT 10
) RETURNS TABLE (
	"shardid" bigint,
	"shard" TEXT,
	"ctid" tid,
	"score" double precision,
	"quantile" double precision,
	"top_column" TEXT,
	"row_data" jsonb
)
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'ssad_shard_top_anomalies_wrapper';

CREATE FUNCTION "ssad_sync"(
	"model_name" TEXT DEFAULT NULL
) RETURNS TABLE (
	"node_name" TEXT,
	"node_port" INT,
	"success" bool,
	"result" TEXT
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'ssad_sync_wrapper';

CREATE FUNCTION "ssad_drift"(
	"model_name" TEXT,
	"source" regclass DEFAULT NULL,
	"sample_percent" double precision DEFAULT NULL
) RETURNS TABLE (
	"column_name" TEXT,
	"kind" TEXT,
	"psi" double precision,
	"ks" double precision,
	"outside_range" double precision,
	"unseen" double precision,
	"above_p99" double precision,
	"drifted" bool,
	"rows_read" bigint
)
STABLE PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'ssad_drift_wrapper';

CREATE FUNCTION "ssad_retrain_if_drifted"(
	"model_name" TEXT,
	"sample_percent" double precision DEFAULT NULL
) RETURNS INT
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'ssad_retrain_if_drifted_wrapper';

COMMENT ON FUNCTION ssad_top_anomalies(text, regclass, integer) IS
  'The k most anomalous rows of a relation (default: the one the model was trained on), scored in parallel, with the column that contributes most. On a Citus coordinator, a distributed table''s top k runs on each shard''s worker and is merged.';
COMMENT ON FUNCTION ssad_shard_top_anomalies(text, regclass, integer) IS
  'On a Citus coordinator: the k most anomalous rows of a distributed table, each shard''s top k computed on its worker, with the shard id, shard relation and ctid of each row.';
COMMENT ON FUNCTION ssad_sync(text) IS
  'On a Citus coordinator: push the catalog state of one model (NULL: every model the current role may change) to every worker. Repairs a worker that missed a change; gives a worker added later its models. Idempotent.';
COMMENT ON FUNCTION ssad.apply_models(jsonb) IS
  'The worker side of ssad_sync and of every model change on a Citus coordinator: makes this node''s rows of each model equal to the pushed state. Checks that the current role owns each model it changes (or is a superuser or the catalog owner). Not meant to be called directly.';
COMMENT ON FUNCTION ssad_drift(text, regclass, double precision) IS
  'Drift of a relation (default: the one the model was trained on; sample_percent reads a BERNOULLI sample) from what the model stored at training: the score''s row first (PSI over the training score deciles, share above their 99th percentile), then one row per model column, most drifted first (PSI, Kolmogorov-Smirnov distance, share outside the training range, share of values the model does not know). drifted: PSI above 0.2; the score also above 5% over its 99th percentile; a time column more than half outside its training period.';
COMMENT ON FUNCTION ssad_retrain_if_drifted(text, double precision) IS
  'Retrain a model (as ssad_retrain) only when ssad_drift on its training relation finds a drifted row; the new version, or NULL with a NOTICE when nothing drifted. For pg_cron.';
