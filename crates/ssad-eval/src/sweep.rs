//! Exploration only (`--sweep`): from one trained model, score the evaluation
//! rows with several weightings of its prediction (p), marginal (m) and kNN (k)
//! terms, plus a hinged marginal h(t) = sum_j max(0, raw m_j - (-ln 2t)) / d that
//! only counts values in the outer 2t tail, so weights can be compared without retraining.

use ssad_core::{metrics, Model, Value};

/// name, p, m, k, hinge(0.01), hinge(0.05) weights.
pub const VARIANTS: &[(&str, [f64; 5])] = &[
    ("cur", [1.0, 2.0, 1.0, 0.0, 0.0]),
    ("p+1.5k+2h", [1.0, 2.0, 1.5, 0.0, 0.0]),
    ("p+2k+2h", [1.0, 2.0, 2.0, 0.0, 0.0]),
    ("p+1.5k+1h", [1.0, 1.0, 1.5, 0.0, 0.0]),
    ("p+1.5k+3h", [1.0, 3.0, 1.5, 0.0, 0.0]),
    ("p+k", [1.0, 0.0, 1.0, 0.0, 0.0]),
    ("p+.5m+k", [1.0, 0.5, 1.0, 0.0, 0.0]),
    ("p+.25m+1.5k", [1.0, 0.25, 1.5, 0.0, 0.0]),
    ("p+.25m+2k", [1.0, 0.25, 2.0, 0.0, 0.0]),
    ("p+k+.5h1", [1.0, 0.0, 1.0, 0.5, 0.0]),
    ("p+k+1h1", [1.0, 0.0, 1.0, 1.0, 0.0]),
    ("p+k+2h1", [1.0, 0.0, 1.0, 2.0, 0.0]),
    ("p+k+.5h5", [1.0, 0.0, 1.0, 0.0, 0.5]),
    ("p+k+1h5", [1.0, 0.0, 1.0, 0.0, 1.0]),
    ("cur+1h1", [1.0, 0.25, 1.0, 1.0, 0.0]),
];

/// (variant, auroc, auprc) for each variant.
pub fn sweep(
    model: &Model,
    _sample: &[Vec<Value<'static>>],
    eval: &[Vec<Value<'static>>],
    labels: &[bool],
) -> Vec<(&'static str, f64, f64)> {
    let d = model.columns.len() as f64;
    let (t1, t5) = (-(0.02f64).ln(), -(0.10f64).ln());
    let mut s = model.scratch();
    let terms: Vec<[f64; 5]> = eval
        .iter()
        .map(|row| {
            let parts = model.explain(row, &mut s).unwrap_or_default();
            let mut t = [0.0; 5];
            for c in &parts {
                let raw = c.marginal_term * model.marg_norm[c.column] as f64;
                t[0] += c.prediction_term / d;
                t[1] += c.marginal_term / d;
                t[2] += c.knn_term / d;
                t[3] += (raw - t1).max(0.0) / d;
                t[4] += (raw - t5).max(0.0) / d;
            }
            t
        })
        .collect();
    VARIANTS
        .iter()
        .map(|&(name, w)| {
            let sc: Vec<f64> = terms
                .iter()
                .map(|t| t.iter().zip(&w).map(|(a, b)| a * b).sum())
                .collect();
            (
                name,
                metrics::auroc(&sc, labels).unwrap_or(f64::NAN),
                metrics::auprc(&sc, labels).unwrap_or(f64::NAN),
            )
        })
        .collect()
}
