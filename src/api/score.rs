//! `ssad_score`: inline scoring of one row in any query.

use crate::callsite::{call_site, CallSite, KeyRef};
use crate::error;
use pgrx::prelude::*;
use pgrx::AnyElement;

/// Anomaly score of a row under the active version of a model: higher is
/// more anomalous.
#[pg_extern(stable, strict, parallel_safe, name = "ssad_score")]
fn ssad_score(model_name: &str, r: AnyElement, fcinfo: pg_sys::FunctionCallInfo) -> f64 {
    let site = call_site(fcinfo, KeyRef::Name(model_name));
    site.score_row(&r)
}

/// Anomaly score of a row under the one active model trained on its table.
#[pg_extern(stable, strict, parallel_safe, name = "ssad_score")]
fn ssad_score_auto(r: AnyElement, fcinfo: pg_sys::FunctionCallInfo) -> f64 {
    let site = call_site(fcinfo, KeyRef::RowType(r.oid()));
    site.score_row(&r)
}

/// The row's score as a quantile of the training rows' scores, in [0, 1].
#[pg_extern(stable, strict, parallel_safe)]
fn ssad_quantile(model_name: &str, r: AnyElement, fcinfo: pg_sys::FunctionCallInfo) -> f64 {
    let site = call_site(fcinfo, KeyRef::Name(model_name));
    let s = site.score_row(&r);
    site.model.quantile(s)
}

/// Whether the row is among the `contamination` share of most anomalous
/// training rows (default: the model's `contamination` option).
#[pg_extern(stable, parallel_safe)]
fn ssad_is_anomaly(
    model_name: Option<&str>,
    r: Option<AnyElement>,
    contamination: default!(Option<f64>, "NULL"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> Option<bool> {
    let (name, r) = (model_name?, r?);
    check_contamination(contamination);
    let site = call_site(fcinfo, KeyRef::Name(name));
    let s = site.score_row(&r);
    Some(flagged(site, s, contamination))
}

/// Raise 22023 unless `contamination` is NULL or strictly between 0 and 1.
pub fn check_contamination(contamination: Option<f64>) {
    if let Some(c) = contamination {
        if !(c > 0.0 && c < 1.0) {
            error::invalid_parameter(
                format!("contamination must be strictly between 0 and 1, got {c}"),
                "Pass the expected share of anomalies, e.g. 0.01.",
            );
        }
    }
}

/// Whether score `s` is among the `contamination` share of most anomalous
/// training rows (default: the model's option), counted in the model's
/// `rows_flagged` when it is.
pub fn flagged(site: &mut CallSite, s: f64, contamination: Option<f64>) -> bool {
    let c = contamination.unwrap_or(site.model.options.contamination);
    let flagged = site.model.quantile(s) > 1.0 - c;
    if flagged {
        site.tally.flagged();
    }
    flagged
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::{make_table, sqlstate_of};
    use pgrx::prelude::*;

    fn trained(table: &str) {
        make_table(table, 400);
        Spi::run(&format!("SELECT ssad_train('sm', '{table}')")).ok();
    }

    #[pg_test]
    fn scores_rows_and_flags_the_broken_one() {
        trained("t_sc");
        let typical = Spi::get_one::<f64>(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ssad_score('sm', t)) FROM t_sc t",
        )
        .ok()
        .flatten()
        .unwrap_or(f64::NAN);
        assert!(typical.is_finite() && typical > 0.0, "{typical}");
        // a and b are tied by b = 2a + 1: break the relation.
        let broken = Spi::get_one::<f64>("SELECT ssad_score('sm', t) FROM (SELECT 1::int AS a, 40.0::float8 AS b, 0.5::numeric AS c) t")
            .ok()
            .flatten()
            .unwrap_or(f64::NAN);
        assert!(broken > 3.0 * typical, "broken {broken} typical {typical}");
    }

    #[pg_test]
    fn binds_by_name_from_other_row_types() {
        trained("t_bind");
        // Columns in another order, with another numeric type, plus an extra column.
        let a = Spi::get_one::<f64>("SELECT ssad_score('sm', t) FROM (SELECT 'x'::text AS extra, 0.5::float4 AS c, 3::bigint AS b, 1 AS a) t");
        let b = Spi::get_one::<f64>(
            "SELECT ssad_score('sm', t) FROM (SELECT 1 AS a, 3.0::float8 AS b, 0.5::float8 AS c) t",
        );
        assert_eq!(a, b);
        assert!(matches!(a, Ok(Some(x)) if x.is_finite()));
        // NULLs score, they do not fail.
        let n = Spi::get_one::<f64>(
            "SELECT ssad_score('sm', t) FROM (SELECT 1 AS a, NULL::float8 AS b, 0.5 AS c) t",
        );
        assert!(matches!(n, Ok(Some(x)) if x.is_finite()), "{n:?}");
    }

    #[pg_test]
    fn scoring_errors_have_sqlstates() {
        trained("t_se");
        assert_eq!(
            sqlstate_of("SELECT ssad_score('nope', t) FROM t_se t"),
            "42704"
        );
        assert_eq!(
            sqlstate_of("SELECT ssad_score('sm', t) FROM (SELECT 1 AS a, 2 AS b) t"),
            "42703"
        );
        assert_eq!(
            sqlstate_of(
                "SELECT ssad_score('sm', t) FROM (SELECT 1 AS a, 2 AS b, 'x'::text AS c) t"
            ),
            "42804"
        );
        assert_eq!(sqlstate_of("SELECT ssad_score('sm', 42)"), "42804");
    }

    #[pg_test]
    fn strict_null_row_gives_null() {
        trained("t_null");
        assert_eq!(
            Spi::get_one::<f64>("SELECT ssad_score('sm', NULL::t_null)"),
            Ok(None)
        );
    }

    #[pg_test]
    fn function_is_stable_strict_parallel_safe() {
        let r = Spi::get_three::<String, bool, String>(
            "SELECT provolatile::text, proisstrict, proparallel::text FROM pg_proc WHERE proname = 'ssad_score'",
        );
        assert_eq!(r, Ok((Some("s".into()), Some(true), Some("s".into()))));
    }
}
