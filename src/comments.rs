//! `COMMENT ON` for every SQL function, so `\df+` and `\dd` explain them.

pgrx::extension_sql!(
    r#"
COMMENT ON FUNCTION ssad_train(text, regclass, text[], text[], jsonb) IS
  'Train a masked-column anomaly model on a table or view and make it the active version of model_name. Options (jsonb): epochs, hidden, mask_rate, seed, sample_size, threads.';
COMMENT ON FUNCTION ssad_score(text, anyelement) IS
  'Anomaly score of a row under the active version of a model: higher is more anomalous. Columns are bound by name.';
COMMENT ON FUNCTION ssad_explain(text, anyelement) IS
  'Per-column contributions to a row''s anomaly score, largest first, with observed and expected values; they sum to ssad_score.';
"#,
    name = "comments",
    finalize
);
