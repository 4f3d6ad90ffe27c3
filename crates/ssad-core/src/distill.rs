//! Distilling the student (`student`) from a trained model's prediction
//! term.
//!
//! Distillation data: training rows plus perturbed copies (columns swapped in
//! from another row, one column pushed far into a tail, small noise), so the
//! student also learns what the teacher says off the data manifold; the
//! teacher labels every row once. Deterministic for a seed, whatever the pool size.

use crate::encode::ColumnEncoder;
use crate::error::{CoreError, Result};
use crate::model::{Model, Scratch};
use crate::nn::{Adam, Mlp};
use crate::progress::Event;
use crate::rng::Rng;
use crate::schema::Value;
use crate::student::{Student, HIDDEN};
use ndarray::Array2;
use rayon::prelude::*;
use std::borrow::Cow;

/// Training rows used as they are (at most).
const BASE_ROWS: usize = 4096;
/// Perturbed copies of each kind: max(base rows, this).
const MIN_PERTURBED: usize = 2048;
const STEPS: usize = 2000;
const BATCH: usize = 256;
const LR_MAX: f32 = 3e-3;
const LR_MIN: f32 = 1e-4;

/// Log-uniform in [lo, hi].
fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.next_f64() * (hi.ln() - lo.ln())).exp()
}

/// Distillation rows of a sample of `n` rows of `d` columns.
pub(crate) fn distillation_count(n: usize, d: usize) -> usize {
    let base = BASE_ROWS.min(n);
    if n == 0 || d == 0 {
        base
    } else {
        base + 3 * base.max(MIN_PERTURBED)
    }
}

/// Rows labelled together: the teacher labels the distillation rows a block
/// at a time, so only a block of them is held (a multiple of `label`'s chunk).
const LABEL_BLOCK: usize = 1024;

/// The distillation rows, each handed to `out` as it is made: base rows,
/// then the perturbed copies.
fn distillation_rows<'s>(
    model: &Model,
    n: usize,
    row: &dyn Fn(usize) -> Vec<Value<'s>>,
    rng: &mut Rng,
    out: &mut dyn FnMut(Vec<Value<'s>>),
) {
    let d = model.n_columns();
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    idx.truncate(BASE_ROWS.min(n));
    for &i in &idx {
        out(row(i));
    }
    if n == 0 || d == 0 {
        return;
    }
    let per_kind = idx.len().max(MIN_PERTURBED);
    let pick = |rng: &mut Rng| -> Vec<Value<'s>> { row(rng.below(n as u64) as usize) };
    // Columns swapped in from another row: between 1 and about half of them.
    for _ in 0..per_kind {
        let mut r = pick(rng);
        let donor = pick(rng);
        let k = 1 + rng.below(d.div_ceil(2) as u64) as usize;
        for _ in 0..k {
            let j = rng.below(d as u64) as usize;
            r[j] = donor[j].clone();
        }
        out(r);
    }
    // One column far out: median +- loguniform(2, 50) robust units; categorical: unseen or NULL.
    for _ in 0..per_kind {
        let mut r = pick(rng);
        let j = rng.below(d as u64) as usize;
        r[j] = match &model.encoders[j] {
            ColumnEncoder::Numeric(e) => {
                let sign = if rng.next_f64() < 0.5 { -1.0 } else { 1.0 };
                Value::Num(e.median + sign * e.scale * log_uniform(rng, 2.0, 50.0))
            }
            ColumnEncoder::Categorical(_) => {
                if rng.next_f64() < 0.5 {
                    Value::Text(Cow::Owned("\u{1}unseen".to_string()))
                } else {
                    Value::Null
                }
            }
        };
        out(r);
    }
    // Gaussian noise of 0.25 robust units on every numeric column.
    for _ in 0..per_kind {
        let mut r = pick(rng);
        for (v, enc) in r.iter_mut().zip(&model.encoders) {
            if let (ColumnEncoder::Numeric(e), Some(x)) = (enc, v.as_f64()) {
                *v = Value::Num(x + 0.25 * e.scale * rng.normal());
            }
        }
        out(r);
    }
}

/// Append the student's input and the teacher's label ln(1 + mean_j p_j)
/// of every row to `xs` and `ys`.
fn label(
    model: &Model,
    rows: &[Vec<Value<'_>>],
    n_in: usize,
    pool: &rayon::ThreadPool,
    xs: &mut Vec<f32>,
    ys: &mut Vec<f32>,
) {
    let parts: Vec<(Vec<f32>, Vec<f32>)> = pool.install(|| {
        rows.par_chunks(256)
            .map(|chunk| {
                let mut s: Scratch = model.scratch();
                let mut x = vec![0.0f32; chunk.len() * n_in];
                let mut y = vec![0.0f32; chunk.len()];
                for (r, row) in chunk.iter().enumerate() {
                    let p = model.teacher_mean_prediction(
                        row,
                        &mut s,
                        &mut x[r * n_in..(r + 1) * n_in],
                    );
                    y[r] = p.ln_1p() as f32;
                }
                (x, y)
            })
            .collect()
    });
    for (x, y) in parts {
        xs.extend(x);
        ys.extend(y);
    }
}

/// Distil a student from `model` (normalisers and kNN reference already fitted).
/// `row(i)`, i < `n_rows`, gives training row i in the model's column order.
/// Reports every step through `on_event`; returning `false` cancels.
pub fn distill<'s>(
    model: &Model,
    n_rows: usize,
    row: &dyn Fn(usize) -> Vec<Value<'s>>,
    rng: &mut Rng,
    pool: &rayon::ThreadPool,
    on_event: &mut dyn FnMut(Event) -> bool,
) -> Result<Student> {
    let mut init_rng = rng.fork(11);
    let mut data_rng = rng.fork(12);
    let mut batch_rng = rng.fork(13);
    let d = model.n_columns();
    let n_in = Student::n_in(model.layout().n_values, d);
    let mut student = Student {
        net: Mlp::new(&[n_in, HIDDEN[0], HIDDEN[1], 1], &mut init_rng),
    };
    let count = distillation_count(n_rows, d);
    let (mut xs, mut ys) = (Vec::with_capacity(count * n_in), Vec::with_capacity(count));
    let mut block = Vec::with_capacity(LABEL_BLOCK);
    distillation_rows(model, n_rows, row, &mut data_rng, &mut |r| {
        block.push(r);
        if block.len() == LABEL_BLOCK {
            label(model, &block, n_in, pool, &mut xs, &mut ys);
            block.clear();
        }
    });
    label(model, &block, n_in, pool, &mut xs, &mut ys);
    drop(block);
    let n = ys.len();
    if n == 0 {
        return Ok(student);
    }
    // Output bias at the target mean: the fit starts from the average row.
    let last = student.net.layers.len() - 1;
    student.net.layers[last].b[0] = (ys.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
    let mut adam = Adam::new(&student.net, 0.0);
    let batch = BATCH.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    let mut pos = n;
    for step in 0..STEPS {
        let mut xb = Array2::<f32>::zeros((batch, n_in));
        let mut yb = Array2::<f32>::zeros((batch, 1));
        for b in 0..batch {
            if pos == n {
                batch_rng.shuffle(&mut order);
                pos = 0;
            }
            let r = order[pos];
            pos += 1;
            for (dst, &src) in xb.row_mut(b).iter_mut().zip(&xs[r * n_in..(r + 1) * n_in]) {
                *dst = src;
            }
            yb[[b, 0]] = ys[r];
        }
        let acts = student.net.forward_batch(xb);
        // MSE on the compressed target.
        let scale = 1.0 / batch as f32;
        let mut g = acts[acts.len() - 1].clone();
        g.zip_mut_with(&yb, |p, &t| *p = (*p - t) * scale);
        let grads = student.net.backward(&acts, g);
        let t = step as f32 / STEPS as f32;
        let lr = LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1.0 + (std::f32::consts::PI * t).cos());
        adam.step(&mut student.net, &grads, lr);
        if !on_event(Event::Distill {
            step: step + 1,
            steps: STEPS,
        }) {
            return Err(CoreError::Cancelled);
        }
    }
    // Stored as half precision, as the teacher's layers are.
    student.net.round_weights_to_f16();
    Ok(student)
}

#[cfg(test)]
mod tests {
    use crate::rng::Rng;
    use crate::{thread_pool, train, ColumnSpec, Model, TrainOptions, Value};

    /// Three correlated numeric columns, a noise column.
    fn rows(n: usize, seed: u64) -> Vec<Vec<Value<'static>>> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let a = rng.normal();
                vec![
                    Value::Num(a),
                    Value::Num(2.0 * a + 0.1 * rng.normal()),
                    Value::Num(-a + 0.1 * rng.normal()),
                    Value::Num(rng.normal()),
                ]
            })
            .collect()
    }

    fn model(distill: bool) -> Model {
        let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let opts = TrainOptions {
            epochs: Some(5),
            distill: Some(distill),
            ..Default::default()
        };
        let (m, _) = train(
            &ColumnSpec::numbered("c", 4),
            &rows(1500, 2),
            &opts,
            &pool,
            &mut |_| true,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        m
    }

    /// The hybrid follows the teacher (same model, student removed): high rank
    /// correlation, the clear outliers on top; it never runs the masked passes;
    /// explanations sum to its score and keep the teacher's expectations.
    #[test]
    fn hybrid_follows_the_teacher() {
        let m = model(true);
        let st = m.student.clone().unwrap_or_else(|| panic!("no student"));
        assert_eq!(
            st.flops_per_row(),
            2.0 * (12.0 * 64.0 + 64.0 * 32.0 + 32.0),
            "4 values + 4 marginals + 4 kNN shares -> 64 -> 32 -> 1"
        );
        let teacher = Model {
            student: None,
            ..m.clone()
        };
        let mut test = rows(300, 3);
        for (i, r) in test.iter_mut().enumerate().take(30) {
            r[1] = Value::Num(if i % 2 == 0 { 6.0 } else { -6.0 });
        }
        let (mut s, mut ts) = (m.scratch(), teacher.scratch());
        let hyb: Vec<f64> = test
            .iter()
            .map(|r| m.score(r, &mut s).unwrap_or(f64::NAN))
            .collect();
        assert!(s.hits_are_zero(), "the hybrid ran the masked passes");
        let tea: Vec<f64> = test
            .iter()
            .map(|r| teacher.score(r, &mut ts).unwrap_or(f64::NAN))
            .collect();
        let rho = crate::metrics::spearman(&tea, &hyb);
        assert!(rho > 0.9, "spearman {rho}");
        let labels: Vec<bool> = (0..test.len()).map(|i| i < 30).collect();
        let auc = crate::metrics::auroc(&hyb, &labels).unwrap_or(0.0);
        assert!(auc > 0.95, "auroc {auc}");
        for (r, &h) in test.iter().zip(&hyb).take(40) {
            let c = m.explain(r, &mut s).unwrap_or_else(|e| panic!("{e}"));
            let total: f64 = c.iter().map(|c| c.contribution).sum();
            assert!((total - h).abs() < 1e-9 * (1.0 + h.abs()), "{total} vs {h}");
            let tc = teacher
                .explain(r, &mut ts)
                .unwrap_or_else(|e| panic!("{e}"));
            for (a, b) in c.iter().zip(&tc) {
                assert_eq!(a.expected, b.expected);
                assert_eq!(a.marginal_term, b.marginal_term);
                assert_eq!(a.knn_term, b.knn_term);
            }
            // Attribution follows the teacher: the network's prediction terms
            // keep its proportions; the exact linear terms are the same in both.
            let lin = m.linear_terms(r);
            assert!(m.linear.is_some());
            let net = |c: &[crate::Contribution]| -> Vec<f64> {
                c.iter()
                    .zip(&lin)
                    .map(|(c, l)| c.prediction_term - l)
                    .collect()
            };
            let (hn, tn) = (net(&c), net(&tc));
            let (ps, pt): (f64, f64) = (hn.iter().sum(), tn.iter().sum());
            for (a, b) in hn.iter().zip(&tn) {
                let want = b / pt * ps;
                assert!((a - want).abs() < 1e-9 * (1.0 + want.abs()));
            }
        }
    }

    #[test]
    fn distill_false_keeps_the_exact_network() {
        let m = model(false);
        assert!(m.student.is_none());
        assert!(!m.options.distill);
    }

    #[test]
    fn odd_rows_score_finite() {
        let m = model(true);
        let mut s = m.scratch();
        let odd = [
            vec![Value::Null, Value::Null, Value::Null, Value::Null],
            vec![
                Value::Num(f64::INFINITY),
                Value::Num(f64::NAN),
                Value::Num(-1e300),
                Value::Num(1e300),
            ],
        ];
        for r in &odd {
            let v = m.score(r, &mut s).unwrap_or(f64::NAN);
            assert!(v.is_finite() && v >= 0.0, "{v}");
            let c = m.explain(r, &mut s).unwrap_or_else(|e| panic!("{e}"));
            let total: f64 = c.iter().map(|c| c.contribution).sum();
            assert!((total - v).abs() < 1e-9 * (1.0 + v.abs()), "{total} vs {v}");
        }
    }
}
