-- COMMENT ON every ssad function, so \df+ and \dd explain them. Installed last (finalize).
COMMENT ON FUNCTION ssad_train(text, regclass, text[], text[], jsonb) IS
  'Train a masked-column anomaly model on a table or view and make it the active version of model_name. Options (jsonb): epochs, hidden, mask_rate, seed, sample_size, threads, contamination, distill, clean.';
COMMENT ON FUNCTION ssad_retrain(text) IS
  'Train a new version of a model from its stored source, columns and options (for pg_cron); skips with a NOTICE when a training of the model is already running.';
COMMENT ON FUNCTION ssad_score(text, anyelement) IS
  'Anomaly score of a row under the active version of a model: higher is more anomalous. Columns are bound by name.';
COMMENT ON FUNCTION ssad_score(anyelement) IS
  'Anomaly score of a row under the one active model trained on the row''s table.';
COMMENT ON FUNCTION ssad_quantile(text, anyelement) IS
  'The row''s score as a quantile of the training rows'' scores, in [0, 1].';
COMMENT ON FUNCTION ssad_is_anomaly(text, anyelement, double precision) IS
  'Whether the row is among the contamination share of most anomalous rows (default: the model''s contamination option).';
COMMENT ON FUNCTION ssad_explain(text, anyelement) IS
  'Per-column contributions to a row''s anomaly score, largest first, with observed and expected values; they sum to ssad_score.';
COMMENT ON FUNCTION ssad_embed(text, anyelement) IS
  'The encoder''s representation of a row (castable to a pgvector vector).';
COMMENT ON FUNCTION ssad_top_anomalies(text, regclass, integer) IS
  'The k most anomalous rows of a relation (default: the one the model was trained on), scored in parallel, with the column that contributes most. On a Citus coordinator, a distributed table''s top k runs on each shard''s worker and is merged.';
COMMENT ON FUNCTION ssad_evaluate(text, regclass, text) IS
  'AUROC, AUPRC and precision at the true anomaly count of a model on a relation with a boolean or 0/1 label column.';
COMMENT ON FUNCTION ssad_drop(text, integer) IS
  'Drop a model (every version and grant), or one inactive version of it. Returns the number of versions dropped.';
COMMENT ON FUNCTION ssad_activate(text, integer) IS
  'Make an existing version of a model the active one (rollback).';
COMMENT ON FUNCTION ssad_rename(text, text) IS
  'Rename a model, with all its versions and grants.';
COMMENT ON FUNCTION ssad_grant(text, text) IS
  'Allow a role (or public) to see and score a model. Only its owner may grant.';
COMMENT ON FUNCTION ssad_revoke(text, text) IS
  'Take back a role''s permission to score a model.';
COMMENT ON FUNCTION ssad_export(text) IS
  'The active version of a model as a self-contained bytea for ssad_import in another database.';
COMMENT ON FUNCTION ssad_import(text, bytea) IS
  'Store a model exported with ssad_export as the new active version of model_name.';
COMMENT ON FUNCTION ssad.score_columns(text, text[], "any") IS
  'ssad_score(model, t) with the columns of t as arguments: the planner''s rewrite of a call on a table''s whole row (saves forming the row). Not meant to be called directly.';
COMMENT ON FUNCTION ssad.score_columns_of_type(regtype, text[], "any") IS
  'ssad_score(t) with the row type and the columns of t as arguments: the planner''s rewrite of a call on a table''s whole row. Not meant to be called directly.';
COMMENT ON FUNCTION ssad.score_support(internal) IS
  'Planner support for ssad_score, ssad_quantile and ssad_is_anomaly: rewrites a call on a table''s whole row (under no outer join) into a call with its columns (ssad.score_columns and the like).';
COMMENT ON FUNCTION ssad.quantile_columns(text, text[], "any") IS
  'ssad_quantile(model, t) with the columns of t as arguments: the planner''s rewrite of a call on a table''s whole row. Not meant to be called directly.';
COMMENT ON FUNCTION ssad.is_anomaly_columns(text, double precision, text[], "any") IS
  'ssad_is_anomaly(model, t, contamination) with the columns of t as arguments: the planner''s rewrite of a call on a table''s whole row. Not meant to be called directly.';
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
COMMENT ON FUNCTION ssad.model_counters() IS
  'Usage counters of every model version the current role can see (by id): rows scored inline, rows flagged by ssad_is_anomaly, top-k scans and rows. counted: server (ssad in shared_preload_libraries: every backend''s counts since counted_since) or session (this session''s counts only). Read through ssad.model_stats.';
COMMENT ON FUNCTION ssad.stats_reset() IS
  'Set every ssad usage counter to zero (the server''s, or this session''s without shared_preload_libraries). Superusers only unless granted.';
COMMENT ON VIEW ssad.model_stats IS
  'ssad models for monitoring: one row per version the role can see, with its training (time, seconds, sample rows) and usage counters (rows scored, rows flagged, top-k scans and rows read); see counted for what the counters cover.';
