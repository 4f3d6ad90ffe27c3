//! After training: fit the per-column normalisers and the linear term, pick the kNN reference
//! sample (trimmed of the highest-scoring and the sparsest training rows, unless the options
//! declare the rows clean), distil the student
//! (unless the options say not to), and record the training score quantiles
//! of the scores as `Model::score` computes them.

use crate::distill;
use crate::error::Result;
use crate::knn::{neighbours, reference_rows, Reference, REFERENCE_ROWS_MIN};
use crate::linear::{Linear, LINEAR_WEIGHT};
use crate::model::Model;
use crate::options::Guards;
use crate::progress::Event;
use crate::rng::Rng;
use crate::sample::Sample;
use crate::schema::Value;
use rayon::prelude::*;

/// Training rows used to fit the score normalisers and quantiles.
const CALIBRATION_ROWS: usize = 4096;
const QUANTILES: usize = 101;
/// Most of the candidate rows left out of the kNN reference (the highest-scoring).
const REFERENCE_TRIM: f64 = 0.10;
/// Least of the candidate rows left out of the kNN reference.
const REFERENCE_TRIM_MIN: f64 = 0.02;
/// Rows scoring above median + FENCE * (q75 - median) of the candidates'
/// scores stand out: they are trimmed (between the two shares above). A clean
/// table has few such rows (for exponential-like scores the fence sits at the
/// 2% tail) and keeps its sparse normal regions in the reference; a
/// contaminated one loses its anomalies. The upper quartile keeps the fence
/// itself clear of up to 25% contamination.
const FENCE: f64 = 4.5;
/// Neighbours of the mass check: a candidate whose `MASS_K` nearest rows of
/// the mass sample (`MASS_ROWS` candidates) are far belongs to a group smaller
/// than about 3% of the candidates or to none. With the scoring kNN's 5
/// neighbours such a group (a cluster of anomalies in a contaminated table)
/// vouches for itself.
const MASS_K: usize = 30;
/// Candidates the mass check measures every candidate against: a fixed
/// number, so that `MASS_K` of them stay a share of the candidates however
/// many the reference grows to (a group of 3% of 18,000 candidates has 540
/// rows, which 30 neighbours among all candidates would not see past). The
/// candidates a 1,024-row reference had, so a small sample's check is the
/// one of all its candidates.
const MASS_ROWS: usize = (REFERENCE_ROWS_MIN * 10).div_ceil(9);
/// Share of the candidates, the sparsest by the mass check, left out of the reference.
const MASS_TRIM: f64 = 0.05;
/// Share of the calibration rows, a column's highest prediction errors, that
/// do not count towards the column's normaliser (`Guards::trimmed_norm`):
/// the share the trimmed loss leaves out of each batch (`train::TRIM`).
const NORM_TRIM: f64 = 0.10;

/// Row `r` of the sample in the model's column order (text borrowed from the sample).
pub type RowFn<'f, 's> = dyn Fn(usize) -> Vec<Value<'s>> + Sync + 'f;

/// Fit the model's normalisers, linear term, kNN reference, student and
/// quantiles on `sample`, whose column `kept[j]` is model column j. The rows
/// each step uses are read from the sample as it goes, a chunk at a time.
pub fn calibrate(
    model: &mut Model,
    kept: &[usize],
    sample: &Sample,
    pool: &rayon::ThreadPool,
    rng: &mut Rng,
    on_event: &mut dyn FnMut(Event) -> bool,
) -> Result<()> {
    let n = sample.len();
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    // Candidates of the kNN reference: enough for `reference_rows` after the trim.
    let ref_rows = reference_rows(n, model.options.clean);
    let want = (ref_rows as f64 / (1.0 - REFERENCE_TRIM)).ceil() as usize;
    idx.truncate(CALIBRATION_ROWS.max(want));
    idx.shrink_to_fit();
    let project =
        |r: usize| -> Vec<Value<'_>> { kept.iter().map(|&c| sample.value(r, c)).collect() };
    let cal = &idx[..CALIBRATION_ROWS.min(idx.len())];
    fit_normalisers(model, cal, &project, pool);
    model.linear = fit_linear(model, cal, &project);
    let cand = &idx[..want.min(idx.len())];
    model.reference = build_reference(model, cand, ref_rows, &project, pool);
    if model.options.distill {
        let mut distill_rng = rng.fork(5);
        let st = distill::distill(model, n, &project, &mut distill_rng, pool, on_event)?;
        model.student = Some(st);
    }
    fit_quantiles(model, cal, &project, pool);
    Ok(())
}

fn fit_normalisers(
    model: &mut Model,
    cal: &[usize],
    row: &RowFn<'_, '_>,
    pool: &rayon::ThreadPool,
) {
    let d = model.columns.len();
    let m: &Model = model;
    let raw: Vec<(f64, f64)> = pool.install(|| {
        cal.par_chunks(256)
            .flat_map_iter(|chunk| {
                let mut s = m.scratch();
                let mut out = vec![(0.0, 0.0); d];
                let mut acc = Vec::with_capacity(chunk.len() * d);
                for &r in chunk {
                    m.raw_column_terms(&row(r), &mut s, &mut out);
                    acc.extend_from_slice(&out);
                }
                acc
            })
            .collect()
    });
    let trimmed = Guards::for_options(&model.options).trimmed_norm;
    for j in 0..d {
        let mut err: Vec<f64> = raw.iter().skip(j).step_by(d).map(|t| t.0).collect();
        if trimmed {
            err.sort_by(f64::total_cmp);
            err.truncate(err.len() - (NORM_TRIM * err.len() as f64).round() as usize);
        }
        let mean = err.iter().sum::<f64>() / err.len().max(1) as f64;
        model.err_norm[j] = (mean as f32).max(1e-3);
        // The hinged marginal is already on a common scale (nats beyond the tail):
        // dividing by its training mean would blow up columns never extreme in training.
        model.marg_norm[j] = 1.0;
    }
}

/// The linear term, fitted on the calibration rows' kNN coordinates.
fn fit_linear(model: &Model, cal: &[usize], row: &RowFn<'_, '_>) -> Option<Linear> {
    let d = model.columns.len();
    let mut z = Vec::with_capacity(cal.len() * d);
    for &r in cal {
        z.extend(
            model
                .encoders
                .iter()
                .zip(&row(r))
                .map(|(e, v)| e.knn_coord(v)),
        );
    }
    Linear::fit(d, &z, LINEAR_WEIGHT)
}

fn scores(
    model: &Model,
    rows: &[usize],
    row: &RowFn<'_, '_>,
    pool: &rayon::ThreadPool,
) -> Vec<f64> {
    pool.install(|| {
        rows.par_chunks(256)
            .flat_map_iter(|chunk| {
                let mut s = model.scratch();
                chunk
                    .iter()
                    .map(|&r| model.score(&row(r), &mut s).unwrap_or(f64::INFINITY))
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

/// The kNN reference: the candidates, less those scoring (without the kNN
/// term) above the fence and the sparsest by mass, unless the options
/// declare the training rows clean; then the first `max_rows`. The
/// neighbours averaged grow with the reference (`knn::neighbours`); a clean
/// reference keeps each row's own distance too (`Reference::with_local`).
fn build_reference(
    model: &Model,
    cand: &[usize],
    max_rows: usize,
    row: &RowFn<'_, '_>,
    pool: &rayon::ThreadPool,
) -> Reference {
    let d = model.columns.len();
    let coords: Vec<f32> = cand
        .iter()
        .flat_map(|&r| {
            let values = row(r);
            model
                .encoders
                .iter()
                .zip(&values)
                .map(|(e, v)| e.knn_coord(v))
                .collect::<Vec<_>>()
        })
        .collect();
    // Both trims leave out rare candidates, anomalies or not: a table
    // declared clean keeps them (`options::Guards`).
    let guards = Guards::for_options(&model.options);
    let sparse = if guards.reference_mass {
        sparsest(d, &coords, MASS_ROWS, MASS_K, MASS_TRIM, pool)
    } else {
        vec![false; cand.len()]
    };
    let kept = if guards.reference_fence {
        let mut no_knn = model.clone();
        no_knn.knn_weight = 0.0;
        no_knn.reference = Reference::empty(d);
        kept_candidates(&scores(&no_knn, cand, row, pool), usize::MAX)
    } else {
        (0..cand.len()).collect()
    };
    let order: Vec<usize> = kept
        .into_iter()
        .filter(|&r| !sparse[r])
        .take(max_rows)
        .collect();
    let mut rows = Vec::with_capacity(order.len() * d);
    for &r in &order {
        rows.extend_from_slice(&coords[r * d..(r + 1) * d]);
    }
    // A clean reference's rows are all normal, so their own distances are
    // a trustworthy local scale (`Reference::local_factor`); a contaminated
    // one's sparsest rows are the anomalies the trims missed.
    if model.options.clean {
        Reference::with_local(d, rows, neighbours(order.len()))
    } else {
        Reference::with_k(d, rows, neighbours(order.len()))
    }
}

/// Per row of `coords` (`d` per row, in random order): whether it is among
/// the `share` of rows with the largest mean distance to their `k` nearest
/// rows among the first `mass_rows` (a row among them passes over itself).
fn sparsest(
    d: usize,
    coords: &[f32],
    mass_rows: usize,
    k: usize,
    share: f64,
    pool: &rayon::ThreadPool,
) -> Vec<bool> {
    let n = coords.len().checked_div(d).unwrap_or(0);
    let mut drop = vec![false; n];
    let n_drop = (share * n as f64).round() as usize;
    if n_drop == 0 || n.min(mass_rows) <= 2 * k {
        return drop;
    }
    let r = Reference::with_k(d, coords[..n.min(mass_rows) * d].to_vec(), k);
    let dist: Vec<f64> = pool.install(|| {
        coords
            .par_chunks(256 * d)
            .flat_map_iter(|chunk| {
                let mut s = crate::knn::KnnScratch::default();
                let mut cols = vec![0.0; d];
                chunk
                    .chunks_exact(d)
                    .map(|x| r.distance(x, &mut s, &mut cols))
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    let mut by: Vec<usize> = (0..n).collect();
    by.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]).then(a.cmp(&b)));
    for &i in &by[..n_drop] {
        drop[i] = true;
    }
    drop
}

/// Candidates kept in the reference, in candidate (random) order: all but those
/// above the score fence (at least `REFERENCE_TRIM_MIN`, at most
/// `REFERENCE_TRIM` of them, highest scores first), then the first `max_rows`.
fn kept_candidates(sc: &[f64], max_rows: usize) -> Vec<usize> {
    let n = sc.len();
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| sc[a].total_cmp(&sc[b]).then(a.cmp(&b)));
    let q = |p: f64| sc[order[((n - 1) as f64 * p).round() as usize]];
    let fence = q(0.5) + FENCE * (q(0.75) - q(0.5));
    let above = sc.iter().filter(|&&v| v > fence).count();
    let share = (above as f64 / n as f64).clamp(REFERENCE_TRIM_MIN, REFERENCE_TRIM);
    let n_trim = ((share * n as f64).round() as usize).min(n - 1);
    let mut drop = vec![false; n];
    for &r in order.iter().rev().take(n_trim) {
        drop[r] = true;
    }
    (0..n).filter(|&r| !drop[r]).take(max_rows).collect()
}

fn fit_quantiles(model: &mut Model, cal: &[usize], row: &RowFn<'_, '_>, pool: &rayon::ThreadPool) {
    let mut sc = scores(model, cal, row, pool);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_scores_trim_the_minimum_share() {
        // Exponential scores: the fence sits near the 2% tail (e^-3.8 = 2.2%).
        let sc: Vec<f64> = (0..1000)
            .map(|i| -(1.0 - (i as f64 + 0.5) / 1000.0).ln())
            .collect();
        let kept = kept_candidates(&sc, 10_000);
        assert_eq!(kept.len(), 978);
        assert!(kept.iter().all(|&r| r < 978));
        // Uniform scores: nothing beyond the fence, the minimum 2% still goes.
        let flat: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        assert_eq!(kept_candidates(&flat, 10_000).len(), 980);
    }

    #[test]
    fn a_small_tight_group_is_sparse_by_mass() {
        // 1000 rows around the origin, and a tight group of 10 far away: each of
        // the 10 has 9 close neighbours but its 30 nearest reach the main mass.
        let mut rng = Rng::new(1);
        let mut coords: Vec<f32> = (0..2000).map(|_| rng.normal() as f32).collect();
        for _ in 0..10 {
            coords.extend([6.0 + 0.01 * rng.normal() as f32, 6.0]);
        }
        let pool = crate::thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let sparse = sparsest(2, &coords, usize::MAX, 30, 0.02, &pool);
        assert_eq!(sparse.iter().filter(|&&b| b).count(), 20);
        assert!(sparse[1000..].iter().all(|&b| b));
        // With 5 neighbours the group vouches for itself.
        let near = sparsest(2, &coords, usize::MAX, 5, 0.01, &pool);
        assert!(near[1000..].iter().all(|&b| !b));
        assert!(sparsest(2, &coords[..40], usize::MAX, 30, 0.5, &pool)
            .iter()
            .all(|&b| !b));
    }

    #[test]
    fn standing_out_rows_are_trimmed_up_to_the_cap() {
        // 6% of rows far above the rest: all of them go.
        let mut sc: Vec<f64> = (0..1000).map(|i| 1.0 + (i % 10) as f64 * 0.01).collect();
        for v in sc.iter_mut().skip(500).take(60) {
            *v = 50.0;
        }
        let kept = kept_candidates(&sc, 10_000);
        assert_eq!(kept.len(), 940);
        assert!(kept.iter().all(|&r| sc[r] < 50.0));
        // 20% far above: at most 10% trimmed.
        for v in sc.iter_mut().take(140) {
            *v = 50.0;
        }
        assert_eq!(kept_candidates(&sc, 10_000).len(), 900);
        // The cap on rows keeps candidate order.
        let k = kept_candidates(&sc, 10);
        assert_eq!(k.len(), 10);
        assert!(k.windows(2).all(|w| w[0] < w[1]));
    }
}
