//! `ssad.model_stats`: usage counters per model version (`crate::stats`)
//! beside what the catalog says of its training, for monitoring scrapers.

use crate::{spi_read, stats};
use pgrx::prelude::*;

/// The counters of every model version the current role can see in the
/// catalog (row-level security decides, as for `ssad.models`), zero when
/// not counted yet; `counted` is `server` (shared memory: every backend's
/// counts) or `session` (ssad is not in `shared_preload_libraries`: this
/// session's counts only).
// Declared in schema ssad below (pgrx knows only the schemas it creates).
#[pg_extern(sql = false)]
#[allow(clippy::type_complexity)]
fn model_counters() -> TableIterator<
    'static,
    (
        name!(id, i64),
        name!(rows_scored, i64),
        name!(rows_flagged, i64),
        name!(topk_scans, i64),
        name!(topk_rows, i64),
        name!(counted, &'static str),
        name!(counted_since, Option<TimestampWithTimeZone>),
    ),
> {
    let visible: Vec<i64> = spi_read::one(
        "SELECT pg_catalog.array_agg(id ORDER BY id) FROM ssad.models",
        &[],
    )
    .unwrap_or_default();
    let (counts, since) = stats::snapshot();
    let since = since.and_then(|t| TimestampWithTimeZone::try_from(t).ok());
    let scope = stats::scope();
    let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let rows: Vec<_> = visible
        .into_iter()
        .map(|id| {
            let c = counts
                .iter()
                .find(|c| c.id == id)
                .copied()
                .unwrap_or_default();
            (
                id,
                big(c.scored),
                big(c.flagged),
                big(c.topk_scans),
                big(c.topk_rows),
                scope,
                since,
            )
        })
        .collect();
    TableIterator::new(rows)
}

/// Set every counter to zero (the server's, or this session's without
/// shared memory). Only roles granted EXECUTE may: none but superusers by default.
#[pg_extern(sql = false)]
fn stats_reset() {
    stats::reset();
}

extension_sql!(
    r#"
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
"#,
    name = "model_stats",
    requires = ["catalog"],
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::make_table;
    use pgrx::prelude::*;

    fn stat(column: &str) -> i64 {
        Spi::get_one::<i64>(&format!(
            "SELECT {column} FROM ssad.model_stats WHERE name = 'stats_m' AND active"
        ))
        .ok()
        .flatten()
        .unwrap_or(-1)
    }

    #[pg_test]
    fn counts_rows_scored_flagged_and_scans() {
        make_table("stats_t", 300);
        Spi::run("SELECT ssad_train('stats_m', 'stats_t', options => '{\"epochs\": 1}')")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stat("rows_scored"), 0);
        Spi::run("SELECT sum(ssad_score('stats_m', t)) FROM stats_t t")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stat("rows_scored"), 300);
        let flagged = Spi::get_one::<i64>(
            "SELECT count(*) FILTER (WHERE ssad_is_anomaly('stats_m', t, 0.1)) FROM stats_t t",
        )
        .ok()
        .flatten()
        .unwrap_or(-1);
        assert!(flagged > 0, "{flagged}");
        assert_eq!(stat("rows_scored"), 600);
        assert_eq!(stat("rows_flagged"), flagged);
        Spi::run("SELECT * FROM ssad_top_anomalies('stats_m', k => 3)")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stat("topk_scans"), 1);
        assert_eq!(stat("topk_rows"), 300);
        assert!(stat("sample_rows") > 0);
    }
}
