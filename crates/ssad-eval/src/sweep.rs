//! Exploration only (`--sweep`): from one trained model, score the evaluation
//! rows with several combinations of the prediction term, the marginal term and
//! an input-space kNN distance, so weights can be compared without retraining.

use ssad_core::encode::ColumnEncoder;
use ssad_core::{metrics, Model, Value};

pub const VARIANTS: &[(&str, f64, f64, f64)] = &[
    // name, pred weight, marginal weight, knn weight
    ("p+m", 1.0, 1.0, 0.0),
    ("p", 1.0, 0.0, 0.0),
    ("m", 0.0, 1.0, 0.0),
    ("p+.5m", 1.0, 0.5, 0.0),
    ("p+.25m", 1.0, 0.25, 0.0),
    ("knn", 0.0, 0.0, 1.0),
    ("p+knn", 1.0, 0.0, 1.0),
    ("p+m+knn", 1.0, 1.0, 1.0),
    ("p+.5m+knn", 1.0, 0.5, 1.0),
    ("p+.25m+knn", 1.0, 0.25, 1.0),
    // Below: kNN against a reference trimmed of its highest-scoring 10%.
    ("knnT", 0.0, 0.0, -1.0),
    ("p+knnT", 1.0, 0.0, -1.0),
    ("p+.25m+knnT", 1.0, 0.25, -1.0),
    ("p+.5m+knnT", 1.0, 0.5, -1.0),
    ("p+m+knnT", 1.0, 1.0, -1.0),
    ("p+.25m+.5knT", 1.0, 0.25, -0.5),
];

const K: usize = 5;
const REF: usize = 2000;

fn scaled(encoders: &[ColumnEncoder], row: &[Value<'_>]) -> Vec<f32> {
    encoders
        .iter()
        .zip(row)
        .map(|(e, v)| {
            let mut out = [0.0f32; 2];
            e.encode_input(v, &mut out[..e.in_width()]);
            out[0]
        })
        .collect()
}

fn knn_dist(refs: &[Vec<f32>], x: &[f32], skip: Option<usize>) -> f64 {
    let mut best = [f32::INFINITY; K];
    for (i, r) in refs.iter().enumerate() {
        if Some(i) == skip {
            continue;
        }
        let d: f32 = r.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
        if d < best[K - 1] {
            let mut p = K - 1;
            while p > 0 && best[p - 1] > d {
                best[p] = best[p - 1];
                p -= 1;
            }
            best[p] = d;
        }
    }
    best.iter()
        .filter(|v| v.is_finite())
        .map(|&v| (v as f64).sqrt())
        .sum::<f64>()
        / K as f64
}

/// (variant, auroc, auprc) for each variant.
pub fn sweep(
    model: &Model,
    sample: &[Vec<Value<'static>>],
    eval: &[Vec<Value<'static>>],
    labels: &[bool],
) -> Vec<(&'static str, f64, f64)> {
    let step = sample.len().div_ceil(REF).max(1);
    let refs: Vec<Vec<f32>> = sample
        .iter()
        .step_by(step)
        .map(|r| scaled(&model.encoders, r))
        .collect();
    // Normaliser: mean leave-one-out kNN distance of the reference rows.
    let norm = (refs
        .iter()
        .enumerate()
        .map(|(i, r)| knn_dist(&refs, r, Some(i)))
        .sum::<f64>()
        / refs.len().max(1) as f64)
        .max(1e-6);
    let d = model.columns.len() as f64;
    let mut s = model.scratch();
    let trim_score = |row: &[Value<'_>], s: &mut ssad_core::Scratch| -> f64 {
        let parts = model.explain(row, s).unwrap_or_default();
        parts
            .iter()
            .map(|c| c.prediction_term + 0.25 * c.marginal_term)
            .sum::<f64>()
    };
    let mut ref_rows: Vec<(f64, &Vec<Value<'static>>)> = sample
        .iter()
        .step_by(step)
        .map(|r| (trim_score(r, &mut s), r))
        .collect();
    ref_rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    ref_rows.truncate((ref_rows.len() as f64 * 0.9).ceil() as usize);
    let refs_t: Vec<Vec<f32>> = ref_rows
        .iter()
        .map(|(_, r)| scaled(&model.encoders, r))
        .collect();
    let norm_t = (refs_t
        .iter()
        .enumerate()
        .map(|(i, r)| knn_dist(&refs_t, r, Some(i)))
        .sum::<f64>()
        / refs_t.len().max(1) as f64)
        .max(1e-6);
    let terms: Vec<(f64, f64, f64, f64)> = eval
        .iter()
        .map(|row| {
            let parts = model.explain(row, &mut s).unwrap_or_default();
            let p = parts.iter().map(|c| c.prediction_term).sum::<f64>() / d;
            let m = parts.iter().map(|c| c.marginal_term).sum::<f64>() / d;
            let k = knn_dist(&refs, &scaled(&model.encoders, row), None) / norm;
            let x = scaled(&model.encoders, row);
            let kt = knn_dist(&refs_t, &x, None) / norm_t;
            (p, m, k, kt)
        })
        .collect();
    VARIANTS
        .iter()
        .map(|&(name, wp, wm, wk)| {
            let sc: Vec<f64> = terms
                .iter()
                .map(|&(p, m, k, kt)| wp * p + wm * m + if wk >= 0.0 { wk * k } else { -wk * kt })
                .collect();
            (
                name,
                metrics::auroc(&sc, labels).unwrap_or(f64::NAN),
                metrics::auprc(&sc, labels).unwrap_or(f64::NAN),
            )
        })
        .collect()
}
