//! After training: fit the per-column normalisers, pick the kNN reference
//! sample (trimmed of the highest-scoring training rows), and record the
//! training score quantiles.

use crate::knn::{Reference, REFERENCE_ROWS};
use crate::model::Model;
use crate::rng::Rng;
use crate::schema::Value;
use rayon::prelude::*;

/// Training rows used to fit the score normalisers and quantiles.
const CALIBRATION_ROWS: usize = 4096;
const QUANTILES: usize = 101;
/// Share of the highest-scoring candidate rows left out of the kNN reference.
const REFERENCE_TRIM: f64 = 0.10;

pub fn calibrate(
    model: &mut Model,
    kept: &[usize],
    rows: &[Vec<Value<'static>>],
    pool: &rayon::ThreadPool,
    rng: &mut Rng,
) {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    rng.shuffle(&mut idx);
    let project =
        |r: usize| -> Vec<Value<'static>> { kept.iter().map(|&c| rows[r][c].clone()).collect() };
    let cal: Vec<Vec<Value<'static>>> = idx
        .iter()
        .take(CALIBRATION_ROWS)
        .map(|&r| project(r))
        .collect();
    fit_normalisers(model, &cal, pool);
    let want = (REFERENCE_ROWS as f64 / (1.0 - REFERENCE_TRIM)).ceil() as usize;
    let cand: Vec<Vec<Value<'static>>> = idx.iter().take(want).map(|&r| project(r)).collect();
    model.reference = build_reference(model, &cand, pool);
    fit_quantiles(model, &cal, pool);
}

fn fit_normalisers(model: &mut Model, cal: &[Vec<Value<'static>>], pool: &rayon::ThreadPool) {
    let d = model.columns.len();
    let m: &Model = model;
    let raw: Vec<(f64, f64)> = pool.install(|| {
        cal.par_chunks(256)
            .flat_map_iter(|chunk| {
                let mut s = m.scratch();
                let mut out = vec![(0.0, 0.0); d];
                let mut acc = Vec::with_capacity(chunk.len() * d);
                for row in chunk {
                    m.raw_column_terms(row, &mut s, &mut out);
                    acc.extend_from_slice(&out);
                }
                acc
            })
            .collect()
    });
    let n = cal.len().max(1) as f64;
    for j in 0..d {
        let (se, sm) = raw
            .iter()
            .skip(j)
            .step_by(d)
            .fold((0.0, 0.0), |(a, b), &(e, mg)| (a + e, b + mg));
        model.err_norm[j] = ((se / n) as f32).max(1e-3);
        // The hinged marginal is already on a common scale (nats beyond the tail):
        // dividing by its training mean would blow up columns never extreme in training.
        let _ = sm;
        model.marg_norm[j] = 1.0;
    }
}

fn scores(model: &Model, rows: &[Vec<Value<'static>>], pool: &rayon::ThreadPool) -> Vec<f64> {
    pool.install(|| {
        rows.par_chunks(256)
            .flat_map_iter(|chunk| {
                let mut s = model.scratch();
                chunk
                    .iter()
                    .map(|r| model.score(r, &mut s).unwrap_or(f64::INFINITY))
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// Candidates scored without the kNN term; the highest-scoring share is dropped.
fn build_reference(
    model: &Model,
    cand: &[Vec<Value<'static>>],
    pool: &rayon::ThreadPool,
) -> Reference {
    let d = model.columns.len();
    let mut no_knn = model.clone();
    no_knn.knn_weight = 0.0;
    no_knn.reference = Reference::empty(d);
    let sc = scores(&no_knn, cand, pool);
    let mut order: Vec<usize> = (0..cand.len()).collect();
    order.sort_by(|&a, &b| sc[a].total_cmp(&sc[b]).then(a.cmp(&b)));
    let keep = ((cand.len() as f64 * (1.0 - REFERENCE_TRIM)).ceil() as usize).min(REFERENCE_ROWS);
    order.truncate(keep);
    order.sort_unstable();
    let mut rows = Vec::with_capacity(order.len() * d);
    for &r in &order {
        rows.extend(
            model
                .encoders
                .iter()
                .zip(&cand[r])
                .map(|(enc, v)| enc.knn_coord(v)),
        );
    }
    Reference::new(d, rows)
}

fn fit_quantiles(model: &mut Model, cal: &[Vec<Value<'static>>], pool: &rayon::ThreadPool) {
    let mut sc = scores(model, cal, pool);
    sc.sort_by(f64::total_cmp);
    if sc.is_empty() {
        return;
    }
    model.score_quantiles = (0..QUANTILES)
        .map(|q| {
            let pos = q as f64 / (QUANTILES - 1) as f64 * (sc.len() - 1) as f64;
            sc[pos.round() as usize]
        })
        .collect();
}
