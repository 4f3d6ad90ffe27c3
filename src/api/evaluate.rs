//! `ssad_evaluate`: score a labelled relation and measure the model against
//! the labels (the labels are read here only, never in training).

use crate::error::Kind;
use crate::{cache, error, source};
use pgrx::prelude::*;
use pgrx::PgRelation;
use ssad_core::metrics;

/// AUROC, AUPRC and precision at the true anomaly count of a model on a
/// relation with a boolean (or 0/1) label column; rows with a NULL label are
/// left out, any other number is an error (22023).
#[pg_extern(stable, parallel_restricted)]
#[allow(clippy::type_complexity)]
fn ssad_evaluate(
    model_name: &str,
    source: PgRelation,
    label_column: &str,
) -> TableIterator<
    'static,
    (
        name!(auroc, Option<f64>),
        name!(auprc, Option<f64>),
        name!(precision_at_k, Option<f64>),
        name!(rows, i64),
        name!(anomalies, i64),
    ),
> {
    let (_, _, model) = cache::active(model_name);
    let relid = source.oid();
    drop(source);
    source::require_rows(relid);
    let relation = source::relation_name(relid);
    let Some(label) = source::columns_of(relid)
        .into_iter()
        .find(|c| c.name == label_column)
    else {
        error::undefined_column(
            label_column,
            &relation,
            "Name the column that holds the labels.",
        )
    };
    let q = pgrx::spi::quote_identifier(label_column);
    // Both kinds read as a number (true = 1): a numeric label must be 0 or 1,
    // checked below. Reading any non-zero as an anomaly would silently invert
    // the metrics of a -1/1 label (scikit-learn's outlier convention).
    let label_expr = match crate::types::base_type(label.type_oid) {
        pg_sys::BOOLOID => format!("t.{q}::pg_catalog.int4::pg_catalog.float8"),
        pg_sys::INT2OID
        | pg_sys::INT4OID
        | pg_sys::INT8OID
        | pg_sys::NUMERICOID
        | pg_sys::FLOAT4OID
        | pg_sys::FLOAT8OID => format!("t.{q}::pg_catalog.float8"),
        _ => error::raise(
            Kind::DatatypeMismatch,
            format!(
                "label column \"{label_column}\" has type {}, not boolean or a number",
                label.type_name
            ),
            None,
            Some("Use a boolean column (true = anomaly), or 0/1."),
        ),
    };
    let feeds = source::feeds_for_model(&model, relid);
    let (mut scores, mut labels) = (Vec::new(), Vec::new());
    source::scan_scored(
        &model,
        relid,
        &feeds,
        &[label_expr.as_str()],
        10_000,
        |row| row.get::<f64>(1),
        |ls, _, s| {
            for (score, l) in s.into_iter().zip(ls) {
                match l {
                    None => {}
                    Some(v) if v == 0.0 || v == 1.0 => {
                        scores.push(score);
                        labels.push(v == 1.0);
                    }
                    Some(v) => error::raise(
                        Kind::InvalidParameter,
                        format!("label column \"{label_column}\" holds {v}, not 0 or 1"),
                        Some("A numeric label must be 1 for an anomaly and 0 for a normal row; NULL leaves the row out.".into()),
                        Some("Map the labels first, e.g. a view with (label = -1) AS is_anomaly for scikit-learn's -1/1."),
                    ),
                }
            }
        },
    );
    let anomalies = labels.iter().filter(|&&l| l).count();
    TableIterator::once((
        metrics::auroc(&scores, &labels),
        metrics::auprc(&scores, &labels),
        metrics::precision_at(&scores, &labels, anomalies),
        labels.len() as i64,
        anomalies as i64,
    ))
}
