//! `ssad_drift` and `ssad_retrain_if_drifted`: has a table moved away from
//! what a model learned (`ssad_core::drift`), and retraining only when it has.

use crate::{cache, catalog, error, source};
use pgrx::prelude::*;
use pgrx::PgRelation;
use ssad_core::drift::{ColumnDrift, Drift};

/// Rows a drift scan fetches (and scores in the pool) at a time.
const FETCH: i64 = 10_000;

/// The drift report of `model_name` on `source` (default: the relation it
/// was trained on), every row or a `sample_percent` of them.
fn report(
    model_name: &str,
    source: Option<pg_sys::Oid>,
    sample_percent: Option<f64>,
) -> (Vec<ColumnDrift>, u64) {
    let (_, _, model) = cache::active(model_name);
    let relid = source.unwrap_or_else(|| source::resolve(&catalog::train_args(model_name).source));
    let sample = sample_percent.map(|p| {
        if !(p > 0.0 && p <= 100.0) {
            error::invalid_parameter(
                format!("sample_percent must be above 0 and at most 100, got {p}"),
                "Pass NULL to read every row, or a share such as 10 to read about a tenth of them.",
            );
        }
        // BERNOULLI reads every page and keeps each row with this chance: a
        // uniform sample of rows, where SYSTEM would keep whole pages.
        format!("TABLESAMPLE pg_catalog.bernoulli ({p}::pg_catalog.float8)")
    });
    source::require_rows(relid);
    let feeds = source::feeds_for_model(&model, relid);
    let mut drift = Drift::new(&model);
    source::scan_scored_sampled(
        &model,
        relid,
        sample.as_deref(),
        &feeds,
        &[],
        FETCH,
        |_| (),
        |_, rows, scores| drift.add(rows, &scores),
    );
    let rows = drift.rows();
    (drift.finish(), rows)
}

/// One row per model column plus one for the anomaly score (first), the
/// most drifted columns first: the population stability index against the
/// training distribution, the Kolmogorov-Smirnov distance (numeric and
/// time columns), the share outside the training range (time), of values
/// the model does not know (categorical, discrete numeric), of rows above
/// the training scores' 99th percentile (the score), whether it drifted by
/// the documented thresholds, and the rows read.
#[pg_extern(stable, parallel_restricted)]
#[allow(clippy::type_complexity)]
fn ssad_drift(
    model_name: Option<&str>,
    source: default!(Option<PgRelation>, "NULL"),
    sample_percent: default!(Option<f64>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(column_name, Option<String>),
        name!(kind, String),
        name!(psi, f64),
        name!(ks, Option<f64>),
        name!(outside_range, Option<f64>),
        name!(unseen, Option<f64>),
        name!(above_p99, Option<f64>),
        name!(drifted, bool),
        name!(rows_read, i64),
    ),
> {
    let model_name = error::required(model_name, "model_name");
    let relid = source.map(|r| r.oid());
    let (rows, n) = report(model_name, relid, sample_percent);
    TableIterator::new(rows.into_iter().map(move |d| {
        (
            d.column,
            d.kind.as_str().to_string(),
            d.psi,
            d.ks,
            d.outside_range,
            d.unseen,
            d.above_p99,
            d.drifted,
            n as i64,
        )
    }))
}

/// Retrain `model_name` (as `ssad_retrain` does) only when `ssad_drift` on
/// its training relation finds a drifted row; the new version, or NULL when
/// nothing drifted (a NOTICE says so). For a scheduled job:
/// `SELECT ssad_retrain_if_drifted('m')` in pg_cron.
#[pg_extern(volatile, parallel_unsafe)]
fn ssad_retrain_if_drifted(
    model_name: Option<&str>,
    sample_percent: default!(Option<f64>, "NULL"),
) -> Option<i32> {
    let model_name = error::required(model_name, "model_name");
    // Only the owner may retrain: say so before the scan.
    catalog::require_owner(model_name);
    let (rows, n) = report(model_name, None, sample_percent);
    let moved: Vec<String> = rows
        .iter()
        .filter(|d| d.drifted)
        .map(|d| d.column.clone().unwrap_or_else(|| "the score".into()))
        .collect();
    if moved.is_empty() {
        pgrx::notice!(
            "ssad: model \"{model_name}\" has not drifted on {n} rows read; not retrained"
        );
        return None;
    }
    pgrx::notice!(
        "ssad: model \"{model_name}\" drifted on {n} rows read ({}); retraining",
        moved.join(", ")
    );
    super::train::ssad_retrain(model_name)
        .map(|(_, version, ..)| version)
        .next()
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::{make_table, sqlstate_of};
    use pgrx::prelude::*;

    /// The errors a caller can reach, by SQLSTATE, and a report over the
    /// training table itself: every model column and the score, nothing
    /// drifted, every row read.
    #[pg_test]
    fn drift_errors_and_an_unmoved_table() {
        make_table("dt", 2000);
        Spi::run("SELECT ssad_train('dm', 'dt', options => '{\"epochs\": 2, \"seed\": 1}')")
            .unwrap_or_else(|e| panic!("{e}"));
        for (sql, code) in [
            (
                "SELECT * FROM ssad_drift('dm', sample_percent => 0)",
                "22023",
            ),
            (
                "SELECT * FROM ssad_drift('dm', sample_percent => 'NaN')",
                "22023",
            ),
            ("SELECT * FROM ssad_drift(NULL)", "22004"),
            ("SELECT * FROM ssad_drift('nope')", "42704"),
            (
                "SELECT * FROM ssad_drift('dm', 'pg_class_oid_index')",
                "42809",
            ),
            ("SELECT ssad_retrain_if_drifted(NULL)", "22004"),
        ] {
            assert_eq!(sqlstate_of(sql), code, "{sql}");
        }
        let got = Spi::get_two::<i64, bool>(
            "SELECT count(*), bool_or(drifted) OR bool_or(rows_read <> 2000) FROM ssad_drift('dm')",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, (Some(4), Some(false)));
        let none = Spi::get_one::<i32>("SELECT ssad_retrain_if_drifted('dm')")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(none, None);
    }
}
