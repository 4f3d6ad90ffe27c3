//! `ssad_explain`: why a row scores as it does, one row per model column.

use crate::callsite::{CallSite, Key};
use crate::error;
use pgrx::prelude::*;
use pgrx::AnyElement;
use ssad_core::{Expected, Value};

/// Numbers as people read them: at most 4 decimals, no trailing zeros.
fn fmt_num(x: f64) -> String {
    let s = format!("{x:.4}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
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
    parts.sort_by(|a, b| {
        b.contribution
            .total_cmp(&a.contribution)
            .then(a.column.cmp(&b.column))
    });
    let rows: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let observed = match &site.values[c.column] {
                Value::Num(x) => Some(fmt_num(*x)),
                Value::Text(t) => Some(t.to_string()),
                Value::Null => None,
            };
            (
                i as i32 + 1,
                site.model.columns[c.column].name.clone(),
                c.contribution,
                observed,
                match c.expected {
                    Expected::Number(x) => Some(fmt_num(x)),
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
    }
}
