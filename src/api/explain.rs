//! `ssad_explain`: why a row scores as it does, one row per model column.

use crate::callsite::{CallSite, Key};
use crate::error;
use pgrx::prelude::*;
use pgrx::AnyElement;
use ssad_core::{Contribution, Expected, Value};
use std::cmp::Ordering;

/// The order of a row's column contributions, largest first; equal ones in
/// the model's column order. Explanations list them so, and top-k names the
/// first as the row's top column.
pub fn most_first(a: &Contribution, b: &Contribution) -> Ordering {
    b.contribution
        .total_cmp(&a.contribution)
        .then(a.column.cmp(&b.column))
}

/// Numbers as people read them: at most 4 decimals, no trailing zeros; the
/// infinities and NaN as float8 prints them.
fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return match x {
            f64::INFINITY => "Infinity".into(),
            f64::NEG_INFINITY => "-Infinity".into(),
            _ => "NaN".into(),
        };
    }
    let s = format!("{x:.4}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The text `oid`'s output function makes of `datum`.
///
/// # Safety
/// `datum` must be a valid value of the type `oid`.
unsafe fn output_text(oid: pg_sys::Oid, datum: pg_sys::Datum) -> String {
    let (mut output_fn, mut varlena) = (pg_sys::InvalidOid, false);
    // SAFETY: a syscache lookup, and the output function of the datum's own
    // type, which returns a palloc'd C string.
    unsafe {
        pg_sys::getTypeOutputInfo(oid, &mut output_fn, &mut varlena);
        let c = pg_sys::OidOutputFunctionCall(output_fn, datum);
        let s = std::ffi::CStr::from_ptr(c).to_string_lossy().into_owned();
        pg_sys::pfree(c.cast());
        s
    }
}

/// An amount as `money` prints it (in the session's lc_monetary), rounded
/// to the currency's digits; None outside money's range or for NaN.
fn fmt_money(x: f64) -> Option<String> {
    // money holds a 64-bit count of the smallest unit: about 9.2e16 units
    // of currency with 2 digits; keep well inside for any lc_monetary.
    if x.is_nan() || x.abs() >= 1e13 {
        return None;
    }
    // SAFETY: float8 -> numeric -> money through Postgres' own casts, on a
    // finite value inside money's range; the result is a money datum.
    unsafe {
        let n = pgrx::direct_function_call_as_datum(
            pg_sys::float8_numeric,
            &[Some(pg_sys::Datum::from(x.to_bits()))],
        )?;
        let m = pgrx::direct_function_call_as_datum(pg_sys::numeric_cash, &[Some(n)])?;
        Some(output_text(pg_sys::MONEYOID, m))
    }
}

/// Epoch seconds `secs` of a `date`, `timestamp` or `timestamptz` column (or
/// an `interval`'s length, see `fmt_duration`) as
/// that type prints them (a timestamptz in the session's time zone), rounded
/// to the day or, with `whole_seconds`, the second; None outside the types'
/// range (a prediction can land anywhere) or for NaN.
fn fmt_time(oid: pg_sys::Oid, secs: f64, whole_seconds: bool) -> Option<String> {
    // Inside every one of the three types' ranges (4713 BC to 5874897 AD for
    // a date, 294276 AD for a timestamp), with a margin.
    const RANGE: std::ops::RangeInclusive<f64> = -210_000_000_000.0..=9_000_000_000_000.0;
    if oid == pg_sys::INTERVALOID {
        return fmt_duration(secs, whole_seconds);
    }
    let datum = if secs.is_infinite() {
        // The types' infinities, as an infinite extract(epoch ...) came from.
        if oid == pg_sys::DATEOID {
            pg_sys::Datum::from(if secs > 0.0 { i32::MAX } else { i32::MIN })
        } else {
            pg_sys::Datum::from(if secs > 0.0 { i64::MAX } else { i64::MIN })
        }
    } else if !RANGE.contains(&secs) {
        return None;
    } else if oid == pg_sys::DATEOID {
        pg_sys::Datum::from(((secs - crate::row::PG_EPOCH_SECONDS) / 86_400.0).round() as i32)
    } else {
        let s = if whole_seconds { secs.round() } else { secs };
        pg_sys::Datum::from(((s - crate::row::PG_EPOCH_SECONDS) * 1e6).round() as i64)
    };
    // SAFETY: a value of the type (date: i32 days, timestamps: i64
    // microseconds, both by value) within its range.
    Some(unsafe { output_text(oid, datum) })
}

/// Seconds `secs` of an interval column as an interval of hours, minutes and
/// seconds (how `interval` prints in the session's IntervalStyle), rounded
/// to the second with `whole_seconds`; None where it is not a finite number
/// of microseconds.
fn fmt_duration(secs: f64, whole_seconds: bool) -> Option<String> {
    let s = if whole_seconds { secs.round() } else { secs };
    let micros = (s * 1e6).round();
    if micros.is_nan() || micros.abs() >= 9.0e18 {
        return None;
    }
    // SAFETY: a palloc'd interval of time only.
    unsafe {
        let iv =
            pg_sys::palloc0(std::mem::size_of::<pg_sys::Interval>()).cast::<pg_sys::Interval>();
        (*iv).time = micros as i64;
        let out = output_text(pg_sys::INTERVALOID, pg_sys::Datum::from(iv));
        pg_sys::pfree(iv.cast());
        Some(out)
    }
}

/// Per-column contributions to a row's score, largest first; they sum to
/// `ssad_score` of the same row.
#[pg_extern(stable, strict, parallel_safe)]
// pgrx reads the SQL result columns from the literal TableIterator type, so no alias.
#[allow(clippy::type_complexity)]
fn ssad_explain(
    model_name: &str,
    r: AnyElement,
) -> TableIterator<
    'static,
    (
        name!(rank, i32),
        name!(column_name, String),
        name!(contribution, f64),
        name!(observed, Option<String>),
        name!(expected, Option<String>),
        name!(prediction_term, f64),
        name!(marginal_term, f64),
        name!(neighbour_term, f64),
    ),
> {
    // Set-returning functions keep their own state in fn_extra, so no call-site
    // cache here: explanations are not on the per-row hot path.
    let site = &mut CallSite::new(Key::Name(model_name.to_string()));
    site.load_row(&r);
    let mut parts = site
        .model
        .explain(&site.values, &mut site.scratch)
        .unwrap_or_else(|e| error::core(e));
    parts.sort_by(most_first);
    let rows: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            // A date or timestamp column shows times, not epoch seconds; a
            // money column amounts.
            let shown_as = site.display_type(c.column);
            let num = |x: f64, whole| {
                shown_as
                    .and_then(|oid| match oid {
                        pg_sys::MONEYOID => fmt_money(x),
                        _ => fmt_time(oid, x, whole),
                    })
                    .unwrap_or_else(|| fmt_num(x))
            };
            let observed = match &site.values[c.column] {
                Value::Num(x) => Some(num(*x, false)),
                Value::Text(t) => Some(t.to_string()),
                Value::Null => None,
            };
            (
                i as i32 + 1,
                site.model.columns[c.column].name.clone(),
                c.contribution,
                observed,
                match c.expected {
                    Expected::Number(x) => Some(num(x, true)),
                    other => other.to_text(),
                },
                c.prediction_term,
                c.marginal_term,
                c.knn_term,
            )
        })
        .collect();
    TableIterator::new(rows)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::make_table;
    use pgrx::prelude::*;

    #[pg_test]
    fn contributions_sum_to_the_score_and_rank_the_broken_column() {
        make_table("t_ex", 400);
        Spi::run("SELECT ssad_train('ex', 't_ex')").ok();
        let q = "FROM (SELECT 1 AS a, 40.0::float8 AS b, 0.5::numeric AS c) t";
        let sum = Spi::get_one::<f64>(&format!(
            "SELECT sum(e.contribution) {q}, ssad_explain('ex', t) e"
        ));
        let score = Spi::get_one::<f64>(&format!("SELECT ssad_score('ex', t) {q}"));
        match (sum, score) {
            (Ok(Some(s)), Ok(Some(x))) => assert!((s - x).abs() < 1e-9, "{s} vs {x}"),
            other => panic!("{other:?}"),
        }
        let top = Spi::get_one::<String>(&format!(
            "SELECT e.column_name {q}, ssad_explain('ex', t) e WHERE e.rank = 1"
        ));
        let top = top.ok().flatten().unwrap_or_default();
        assert!(top == "a" || top == "b", "{top}");
        let n = Spi::get_one::<i64>(&format!("SELECT count(*) {q}, ssad_explain('ex', t) e"));
        assert_eq!(n, Ok(Some(3)));
        // Infinities and NaN are shown as float8 prints them.
        for v in ["Infinity", "-Infinity", "NaN"] {
            let shown = Spi::get_one::<String>(&format!(
                "SELECT e.observed FROM (SELECT 1 AS a, '{v}'::float8 AS b, 0.5::numeric AS c) t,
                        ssad_explain('ex', t) e WHERE e.column_name = 'b'"
            ));
            assert_eq!(shown, Ok(Some(v.to_string())));
        }
    }
}
