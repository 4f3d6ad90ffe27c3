//! Experimental: a small student network distilled from a trained model, so
//! that inline scoring costs one narrow forward pass instead of the teacher's
//! masked passes and kNN scan.
//!
//! The student sees the row once (the teacher's value slots, nothing hidden,
//! no mask flags) and predicts, per column, ln(1 + p_j + w_k k_j): the
//! teacher's prediction and kNN terms. The marginal term stays exact (a cheap
//! per-column lookup), so the student's score keeps the teacher's form, a sum
//! of per-column parts on the teacher's scale.
//!
//! Distillation data: the training rows plus perturbed copies (columns swapped
//! in from another row, one column pushed far into a tail, small noise), so the
//! student also learns what the teacher says off the data manifold. The teacher
//! labels every row once. Everything is deterministic given the seed.

use crate::encode::ColumnEncoder;
use crate::knn::{KnnScratch, Reference};
use crate::model::{Model, Scratch};
use crate::nn::{Adam, Mlp};
use crate::rng::Rng;
use crate::schema::Value;
use ndarray::Array2;
use rayon::prelude::*;
use serde::Deserialize;
use std::borrow::Cow;

/// Distillation settings (the harness passes them as JSON).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentOptions {
    /// Label for reports.
    pub name: String,
    /// Widths of the two hidden layers.
    pub h1: usize,
    pub h2: usize,
    /// "direct": per column ln(1 + p_j + w_k k_j); "single": one output for the row;
    /// "recon": per numeric column the teacher's expected value (the prediction
    /// error is then computed exactly against the row's value), per categorical
    /// column ln(1 + p_j), and per column ln(1 + k_j).
    pub mode: String,
    /// Numeric slots carry the kNN space's log-compressed tails instead of the clip at +-5.
    pub soft_inputs: bool,
    /// Append ln(1 + hinged marginal) of every column to the input.
    pub marg_inputs: bool,
    /// Rows of a small kNN reference (drawn from the teacher's) whose per-column
    /// distances are extra inputs (0: none); neighbours averaged there.
    pub proto_rows: usize,
    pub proto_k: usize,
    /// Hybrid modes: feed the exact per-column kNN shares as inputs.
    pub knn_inputs: bool,
    /// Training rows used as they are (at most).
    pub base_rows: usize,
    /// Perturbed copies of each kind: max(base, min_perturbed).
    pub min_perturbed: usize,
    /// Perturbation kinds: column swaps, one column in a far tail, small noise.
    pub swap: bool,
    pub tail: bool,
    pub noise: bool,
    /// Adam steps and batch size.
    pub steps: usize,
    pub batch: usize,
    pub lr: f32,
    pub seed: u64,
}

impl Default for StudentOptions {
    fn default() -> Self {
        StudentOptions {
            name: "default".into(),
            h1: 64,
            h2: 32,
            mode: "single".into(),
            soft_inputs: false,
            marg_inputs: false,
            proto_rows: 256,
            proto_k: 3,
            knn_inputs: true,
            base_rows: 4096,
            min_perturbed: 2048,
            swap: true,
            tail: true,
            noise: true,
            steps: 2000,
            batch: 256,
            lr: 3e-3,
            seed: 42,
        }
    }
}

impl StudentOptions {
    /// One JSON object of options, or an array of them.
    pub fn list_from_json(text: &str) -> std::result::Result<Vec<Self>, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let list = match v {
            serde_json::Value::Array(a) => a,
            o => vec![o],
        };
        list.into_iter()
            .map(|o| serde_json::from_value(o).map_err(|e| e.to_string()))
            .collect()
    }
}

/// What the student's outputs stand for (see `StudentOptions::mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Direct,
    Single,
    Recon,
    /// Recon plus, per numeric column, the spread of the masks' predictions
    /// around their mean: p = sqrt((mean - x)^2 + spread^2) / norm.
    Spread,
    /// Hybrid: the teacher's formula with only the prediction term learned, as one
    /// output ln(1 + mean_j p_j); marginal and kNN terms exact (the kNN term on
    /// the teacher's reference, or an even-stride cut of it to `proto_rows` rows).
    Hybrid,
    /// Hybrid with per column outputs ln(1 + p_j).
    HybridCols,
    /// Hybrid with the `spread` form of the prediction term (per numeric column
    /// mean prediction and masks' spread, the error taken exactly).
    HybridSpread,
}

impl Mode {
    fn parse(s: &str) -> Self {
        match s {
            "single" => Mode::Single,
            "direct" => Mode::Direct,
            "spread" => Mode::Spread,
            "hybrid" => Mode::Hybrid,
            "hybrid_cols" => Mode::HybridCols,
            "hybrid_spread" => Mode::HybridSpread,
            _ => Mode::Recon,
        }
    }

    fn n_out(self, d: usize) -> usize {
        match self {
            Mode::Direct => d,
            Mode::Single => 1,
            Mode::Recon => 2 * d,
            Mode::Spread => 3 * d,
            Mode::Hybrid => 1,
            Mode::HybridCols => d,
            Mode::HybridSpread => 2 * d,
        }
    }

    fn hybrid(self) -> bool {
        matches!(self, Mode::Hybrid | Mode::HybridCols | Mode::HybridSpread)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Student {
    pub net: Mlp,
    pub mode: Mode,
    /// Recon: the student's own mean absolute prediction error per column on
    /// the training rows (the divisor of its prediction term, as `err_norm` is the teacher's).
    pub err_norm: Vec<f32>,
    pub soft_inputs: bool,
    pub marg_inputs: bool,
    /// Small kNN reference whose per-column distances feed the input (`proto_rows`).
    pub proto: Option<Reference>,
    /// Whether the proto reference's per-column distances are inputs.
    pub knn_inputs: bool,
    /// Input width: the teacher's value slots (+ d marginal inputs, + d kNN inputs).
    pub n_in: usize,
}

/// Reusable buffers for one-row student scoring.
#[derive(Clone, Debug)]
pub struct StudentScratch {
    x: Vec<f32>,
    parts: Vec<f64>,
    terms: Vec<(f64, f64, f64)>,
    pb: ProtoBuf,
    hidden: [Vec<f32>; 2],
    marg: Vec<f64>,
    targets: Vec<Option<f32>>,
}

/// Buffers of the small kNN reference's query.
#[derive(Clone, Debug, Default)]
struct ProtoBuf {
    z: Vec<f32>,
    knn: KnnScratch,
    cols: Vec<f64>,
}

/// Rows labelled by the teacher: per-column targets (or one per row).
struct Labelled {
    x: Vec<f32>,
    y: Vec<f32>,
}

impl Student {
    pub fn scratch(&self) -> StudentScratch {
        let w = self.net.max_width().max(self.net.n_out());
        StudentScratch {
            x: vec![0.0; self.n_in],
            parts: Vec::new(),
            terms: Vec::new(),
            pb: ProtoBuf::default(),
            hidden: [vec![0.0; w], vec![0.0; w]],
            marg: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Floating-point operations of one forward pass (2 x multiply-adds).
    pub fn flops_per_row(&self) -> f64 {
        let net: f64 = self
            .net
            .layers
            .iter()
            .map(|l| 2.0 * (l.n_in * l.n_out) as f64)
            .sum();
        // The small kNN scan: 3 d per reference row, as the teacher's is counted.
        net + self
            .proto
            .as_ref()
            .map_or(0.0, |r| 3.0 * (r.d * r.n_rows()) as f64)
    }

    /// Per column the learned (prediction, kNN) terms on the teacher's scale (the
    /// "direct" and "single" modes give their combined p + w_k k as the first, 0 as the second)
    /// and the exact hinged marginal, into `out`.
    pub fn terms(
        &self,
        model: &Model,
        row: &[Value<'_>],
        s: &mut StudentScratch,
        out: &mut Vec<(f64, f64, f64)>,
    ) {
        let d = model.n_columns();
        let StudentScratch {
            x,
            hidden,
            marg,
            targets,
            pb,
            ..
        } = s;
        encode_row(model, self, row, x, marg, targets, pb);
        let y = self.net.forward_row(x, hidden);
        out.clear();
        for j in 0..d.min(marg.len()) {
            let (p, k) = match self.mode {
                Mode::Direct => (unlog(y[j]), 0.0),
                Mode::Single => (unlog(y[0]), 0.0),
                Mode::Hybrid => (unlog(y[0]), pb.cols.get(j).map_or(0.0, |c| c * d as f64)),
                Mode::HybridCols => (unlog(y[j]), pb.cols.get(j).map_or(0.0, |c| c * d as f64)),
                Mode::Recon | Mode::Spread | Mode::HybridSpread => {
                    let spread = match self.mode {
                        Mode::Spread => unlog(y[2 * d + j]) * model.err_norm[j] as f64,
                        Mode::HybridSpread => unlog(y[d + j]) * model.err_norm[j] as f64,
                        _ => 0.0,
                    };
                    let p = match (&model.encoders[j], targets[j]) {
                        (ColumnEncoder::Numeric(_), Some(t)) => {
                            let dev = (y[j] * model.err_norm[j] - t) as f64;
                            (dev * dev + spread * spread).sqrt() / self.err_norm[j] as f64
                        }
                        (ColumnEncoder::Numeric(_), None) => 0.0,
                        (ColumnEncoder::Categorical(_), _) => unlog(y[j]),
                    };
                    let k = if self.mode == Mode::HybridSpread {
                        pb.cols.get(j).map_or(0.0, |c| c * d as f64)
                    } else {
                        unlog(y[d + j])
                    };
                    (p, k)
                }
            };
            out.push((p, k, marg[j]));
        }
    }

    /// Per-column parts of the score (each as the teacher's `combine` of the
    /// learned prediction and kNN terms and the exact marginal); they sum to `score`.
    pub fn parts(
        &self,
        model: &Model,
        row: &[Value<'_>],
        s: &mut StudentScratch,
        out: &mut Vec<f64>,
    ) {
        let mut terms = std::mem::take(&mut s.terms);
        self.terms(model, row, s, &mut terms);
        out.clear();
        out.extend(terms.iter().map(|&(p, k, m)| model.combine(p, m, k)));
        s.terms = terms;
    }

    /// The student's anomaly score of one row (model column order), on the teacher's scale.
    pub fn score(&self, model: &Model, row: &[Value<'_>], s: &mut StudentScratch) -> f64 {
        let mut parts = std::mem::take(&mut s.parts);
        self.parts(model, row, s, &mut parts);
        let total = parts.iter().sum();
        s.parts = parts;
        total
    }
}

/// Inverse of the target compression, clamped to stay finite and non-negative.
#[inline]
fn unlog(v: f32) -> f64 {
    (v.clamp(0.0, 60.0) as f64).exp_m1()
}

fn student_width(model: &Model, marg_inputs: bool, knn_inputs: bool) -> usize {
    let d = model.n_columns();
    model.layout().n_values + if marg_inputs { d } else { 0 } + if knn_inputs { d } else { 0 }
}

fn encode_row(
    model: &Model,
    st: &Student,
    row: &[Value<'_>],
    x: &mut [f32],
    marg: &mut Vec<f64>,
    targets: &mut Vec<Option<f32>>,
    pb: &mut ProtoBuf,
) {
    let (soft, marg_inputs) = (st.soft_inputs, st.marg_inputs);
    let layout = model.layout();
    let d = model.n_columns();
    marg.clear();
    targets.clear();
    for (j, (enc, v)) in model.encoders.iter().zip(row).enumerate() {
        let off = layout.in_off[j];
        enc.encode_input(v, &mut x[off..off + enc.in_width()]);
        if soft {
            if let Some(z) = enc_soft(enc, v) {
                x[off] = z;
            }
        }
        let (_, m) = model.normalise(j, 0.0, enc.marginal(v));
        let m = if m.is_finite() { m } else { 0.0 };
        marg.push(m);
        targets.push(enc.target(v));
        if marg_inputs {
            x[layout.n_values + j] = (m.ln_1p() as f32).min(30.0);
        }
    }
    debug_assert_eq!(marg.len(), d);
    if let Some(r) = &st.proto {
        pb.z.clear();
        pb.z.extend(model.encoders.iter().zip(row).map(|(e, v)| e.knn_coord(v)));
        pb.z.resize(d, 0.0);
        pb.cols.resize(d, 0.0);
        if r.n_rows() > 0 && (!st.mode.hybrid() || model.knn_weight > 0.0) {
            r.distance(&pb.z, &mut pb.knn, &mut pb.cols);
        } else {
            pb.cols.fill(0.0);
        }
        if st.knn_inputs {
            let off = layout.n_values + if marg_inputs { d } else { 0 };
            for (xi, &c) in x[off..off + d].iter_mut().zip(&pb.cols) {
                *xi = ((c * d as f64).max(0.0).ln_1p() as f32).min(30.0);
            }
        }
    }
}

fn enc_soft(enc: &ColumnEncoder, v: &Value<'_>) -> Option<f32> {
    match enc {
        ColumnEncoder::Numeric(e) => e.soft_scaled(v),
        ColumnEncoder::Categorical(_) => None,
    }
}

/// Log-uniform in [lo, hi].
fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.next_f64() * (hi.ln() - lo.ln())).exp()
}

/// The distillation rows: base rows, then the perturbed copies.
fn distillation_rows(
    model: &Model,
    rows: &[Vec<Value<'static>>],
    o: &StudentOptions,
    rng: &mut Rng,
) -> Vec<Vec<Value<'static>>> {
    let n = rows.len();
    let d = model.n_columns();
    let mut idx: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut idx);
    idx.truncate(o.base_rows.max(1).min(n));
    let mut out: Vec<Vec<Value<'static>>> = idx.iter().map(|&i| rows[i].clone()).collect();
    if n == 0 || d == 0 {
        return out;
    }
    let per_kind = idx.len().max(o.min_perturbed);
    let pick = |rng: &mut Rng| -> &Vec<Value<'static>> { &rows[rng.below(n as u64) as usize] };
    if o.swap {
        for _ in 0..per_kind {
            let mut r = pick(rng).clone();
            let donor = pick(rng);
            // Replace between 1 and about half the columns.
            let k = 1 + rng.below(d.div_ceil(2) as u64) as usize;
            for _ in 0..k {
                let j = rng.below(d as u64) as usize;
                r[j] = donor[j].clone();
            }
            out.push(r);
        }
    }
    if o.tail {
        for _ in 0..per_kind {
            let mut r = pick(rng).clone();
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
            out.push(r);
        }
    }
    if o.noise {
        for _ in 0..per_kind {
            let mut r = pick(rng).clone();
            for (v, enc) in r.iter_mut().zip(&model.encoders) {
                if let (ColumnEncoder::Numeric(e), Some(x)) = (enc, v.as_f64()) {
                    *v = Value::Num(x + 0.25 * e.scale * rng.normal());
                }
            }
            out.push(r);
        }
    }
    out
}

/// Buffers for `mask_spread`.
struct MaskScratch {
    base: Vec<f32>,
    x: Vec<f32>,
    hidden: [Vec<f32>; 2],
    preds: Vec<Vec<f32>>,
}

impl MaskScratch {
    fn new(model: &Model) -> Self {
        let w = model.net.max_width().max(model.layout().n_out);
        MaskScratch {
            base: vec![0.0; model.layout().n_in],
            x: vec![0.0; model.layout().n_in],
            hidden: [vec![0.0; w], vec![0.0; w]],
            preds: vec![Vec::new(); model.n_columns()],
        }
    }
}

/// Per numeric column, the mean absolute deviation (scaled units) of the
/// teacher's predictions under the masks that hide it from their mean; 0 elsewhere.
fn mask_spread(model: &Model, row: &[Value<'_>], s: &mut MaskScratch, out: &mut [f64]) {
    let layout = model.layout();
    s.base.fill(0.0);
    for (j, (enc, v)) in model.encoders.iter().zip(row).enumerate() {
        let off = layout.in_off[j];
        enc.encode_input(v, &mut s.base[off..off + enc.in_width()]);
        s.preds[j].clear();
    }
    for mask in &model.masks {
        s.x.copy_from_slice(&s.base);
        for &j in mask {
            layout.hide(&model.encoders[j as usize], j as usize, &mut s.x);
        }
        let y = model.net.forward_row(&s.x, &mut s.hidden);
        for &j in mask {
            let j = j as usize;
            if let ColumnEncoder::Numeric(_) = model.encoders[j] {
                s.preds[j].push(y[layout.out_off[j]]);
            }
        }
    }
    for (j, o) in out.iter_mut().enumerate() {
        let p = &s.preds[j];
        *o = if p.is_empty() {
            0.0
        } else {
            let mu = p.iter().map(|&v| v as f64).sum::<f64>() / p.len() as f64;
            p.iter().map(|&v| (v as f64 - mu).abs()).sum::<f64>() / p.len() as f64
        };
    }
}

/// The teacher's targets of each row, per `Mode`.
fn label(
    model: &Model,
    student: &Student,
    rows: &[Vec<Value<'static>>],
    pool: &rayon::ThreadPool,
) -> Labelled {
    let d = model.n_columns();
    let nx = student.n_in;
    let ny = student.net.n_out();
    let wk = model.knn_weight as f64;
    let parts: Vec<(Vec<f32>, Vec<f32>)> = pool.install(|| {
        rows.par_chunks(256)
            .map(|chunk| {
                let mut s: Scratch = model.scratch();
                let mut marg = Vec::with_capacity(d);
                let mut tg = Vec::with_capacity(d);
                let mut pb = ProtoBuf::default();
                let mut ms = MaskScratch::new(model);
                let mut spread = vec![0.0f64; d];
                let mut x = vec![0.0f32; chunk.len() * nx];
                let mut y = vec![0.0f32; chunk.len() * ny];
                for (r, row) in chunk.iter().enumerate() {
                    encode_row(
                        model,
                        student,
                        row,
                        &mut x[r * nx..(r + 1) * nx],
                        &mut marg,
                        &mut tg,
                        &mut pb,
                    );
                    let Ok(c) = model.explain(row, &mut s) else {
                        continue;
                    };
                    let t: Vec<f64> = c
                        .iter()
                        .map(|c| {
                            let v = c.prediction_term + wk * c.knn_term;
                            if v.is_finite() {
                                v.max(0.0)
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let yr = &mut y[r * ny..(r + 1) * ny];
                    match student.mode {
                        Mode::Direct => {
                            for (yy, v) in yr.iter_mut().zip(&t) {
                                *yy = v.ln_1p() as f32;
                            }
                        }
                        Mode::Single => {
                            yr[0] = (t.iter().sum::<f64>() / d.max(1) as f64).ln_1p() as f32;
                        }
                        Mode::Hybrid | Mode::HybridCols => {
                            let p: Vec<f64> = c
                                .iter()
                                .map(|c| {
                                    let p = c.prediction_term;
                                    if p.is_finite() {
                                        p.max(0.0)
                                    } else {
                                        0.0
                                    }
                                })
                                .collect();
                            if student.mode == Mode::Hybrid {
                                yr[0] = (p.iter().sum::<f64>() / d.max(1) as f64).ln_1p() as f32;
                            } else {
                                for (yy, v) in yr.iter_mut().zip(&p) {
                                    *yy = v.ln_1p() as f32;
                                }
                            }
                        }
                        Mode::Recon | Mode::Spread | Mode::HybridSpread => {
                            let hs = student.mode == Mode::HybridSpread;
                            if student.mode == Mode::Spread || hs {
                                mask_spread(model, row, &mut ms, &mut spread);
                                let off = if hs { d } else { 2 * d };
                                for j in 0..d {
                                    yr[off + j] =
                                        (spread[j] / model.err_norm[j] as f64).ln_1p() as f32;
                                }
                            }
                            for (j, c) in c.iter().enumerate() {
                                let k = if c.knn_term.is_finite() {
                                    c.knn_term.max(0.0)
                                } else {
                                    0.0
                                };
                                if !hs {
                                    yr[d + j] = k.ln_1p() as f32;
                                }
                                yr[j] = match &model.encoders[j] {
                                    // The teacher's expected value in scaled units, divided by
                                    // its typical error so every column weighs alike in the loss.
                                    ColumnEncoder::Numeric(e) => {
                                        let z = match c.expected.as_f64() {
                                            Some(v) => ((v - e.median) / e.scale) as f32,
                                            None => tg[j].unwrap_or(0.0),
                                        };
                                        z / model.err_norm[j]
                                    }
                                    ColumnEncoder::Categorical(_) => {
                                        let p = c.prediction_term;
                                        (if p.is_finite() { p.max(0.0) } else { 0.0 }).ln_1p()
                                            as f32
                                    }
                                };
                            }
                        }
                    }
                }
                (x, y)
            })
            .collect()
    });
    let mut l = Labelled {
        x: Vec::with_capacity(rows.len() * nx),
        y: Vec::with_capacity(rows.len() * ny),
    };
    for (x, y) in parts {
        l.x.extend(x);
        l.y.extend(y);
    }
    l
}

/// Distil a student from `model`. `rows` are training rows in the model's column order.
pub fn distill(
    model: &Model,
    rows: &[Vec<Value<'static>>],
    o: &StudentOptions,
    pool: &rayon::ThreadPool,
) -> Student {
    let mut rng = Rng::new(o.seed);
    let mut init_rng = rng.fork(11);
    let mut data_rng = rng.fork(12);
    let mut batch_rng = rng.fork(13);
    let d = model.n_columns();
    let mode = Mode::parse(&o.mode);
    let knn_inputs = if mode.hybrid() {
        o.knn_inputs
    } else {
        o.proto_rows > 0
    };
    let n_in = student_width(model, o.marg_inputs, knn_inputs);
    // The small reference: an even stride through the teacher's (already trimmed) one.
    // Hybrid: the teacher's own reference unless cut to `proto_rows`.
    let full = mode.hybrid() && (o.proto_rows == 0 || o.proto_rows >= model.reference.n_rows());
    let proto = (!full && o.proto_rows > 0 && model.reference.n_rows() > 0).then(|| {
        let (nr, rd) = (model.reference.n_rows(), model.reference.d);
        let take = o.proto_rows.min(nr);
        let mut rows_p = Vec::with_capacity(take * rd);
        for i in 0..take {
            let r = i * nr / take;
            rows_p.extend_from_slice(&model.reference.rows[r * rd..(r + 1) * rd]);
        }
        let k = if mode.hybrid() {
            model.reference.k
        } else {
            o.proto_k
        };
        Reference::with_k(rd, rows_p, k)
    });
    let proto = if full {
        Some(model.reference.clone())
    } else {
        proto
    };
    let n_out = mode.n_out(d).max(1);
    let mut student = Student {
        net: Mlp::new(&[n_in, o.h1.max(1), o.h2.max(1), n_out], &mut init_rng),
        mode,
        err_norm: vec![1.0; d],
        soft_inputs: o.soft_inputs,
        marg_inputs: o.marg_inputs,
        proto: if o.proto_rows > 0 || mode.hybrid() {
            proto
        } else {
            None
        },
        knn_inputs,
        n_in,
    };
    let t0 = std::time::Instant::now();
    let drows = distillation_rows(model, rows, o, &mut data_rng);
    let data = label(model, &student, &drows, pool);
    let t_label = t0.elapsed().as_secs_f64();
    let n_base = o.base_rows.max(1).min(rows.len());
    let n = drows.len();
    if n == 0 {
        return student;
    }
    // Output bias at the target means: the fit starts from the average row.
    let last = student.net.layers.len() - 1;
    for k in 0..n_out {
        let m = data
            .y
            .iter()
            .skip(k)
            .step_by(n_out)
            .map(|&v| v as f64)
            .sum::<f64>()
            / n as f64;
        student.net.layers[last].b[k] = m as f32;
    }
    let mut adam = Adam::new(&student.net, 0.0);
    let batch = o.batch.max(1).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    let mut pos = n;
    let lr_min = o.lr * 0.03;
    for step in 0..o.steps {
        let mut xb = Array2::<f32>::zeros((batch, n_in));
        let mut yb = Array2::<f32>::zeros((batch, n_out));
        for b in 0..batch {
            if pos == n {
                batch_rng.shuffle(&mut order);
                pos = 0;
            }
            let r = order[pos];
            pos += 1;
            for (dst, &src) in xb
                .row_mut(b)
                .iter_mut()
                .zip(&data.x[r * n_in..(r + 1) * n_in])
            {
                *dst = src;
            }
            for (dst, &src) in yb
                .row_mut(b)
                .iter_mut()
                .zip(&data.y[r * n_out..(r + 1) * n_out])
            {
                *dst = src;
            }
        }
        let acts = student.net.forward_batch(xb);
        // MSE on the compressed targets, mean over rows and outputs.
        let scale = 1.0 / (batch * n_out) as f32;
        let mut g = acts[acts.len() - 1].clone();
        g.zip_mut_with(&yb, |p, &t| *p = (*p - t) * scale);
        let grads = student.net.backward(&acts, g);
        let t = step as f32 / o.steps.max(1) as f32;
        let lr = lr_min + 0.5 * (o.lr - lr_min) * (1.0 + (std::f32::consts::PI * t).cos());
        adam.step(&mut student.net, &grads, lr);
    }
    if matches!(mode, Mode::Recon | Mode::Spread | Mode::HybridSpread) {
        fit_err_norm(model, &mut student, &drows[..n_base.min(n)]);
    }
    if std::env::var_os("SSAD_STUDENT_TIMING").is_some() {
        eprintln!(
            "student {}: {} rows labelled in {:.2}s, {} steps in {:.2}s",
            o.name,
            n,
            t_label,
            o.steps,
            t0.elapsed().as_secs_f64() - t_label
        );
    }
    student
}

/// Recon: the student's mean absolute prediction error per numeric column on the base rows.
fn fit_err_norm(model: &Model, st: &mut Student, rows: &[Vec<Value<'static>>]) {
    let d = model.n_columns();
    let mut s = st.scratch();
    let (mut sum, mut cnt) = (vec![0.0f64; d], vec![0usize; d]);
    let mut terms = Vec::new();
    st.err_norm = vec![1.0; d];
    for row in rows {
        st.terms(model, row, &mut s, &mut terms);
        for j in 0..d {
            if s.targets[j].is_some() {
                sum[j] += terms[j].0;
                cnt[j] += 1;
            }
        }
    }
    for j in 0..d {
        if cnt[j] > 0 {
            st.err_norm[j] = ((sum[j] / cnt[j] as f64) as f32).max(1e-3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{thread_pool, train, ColumnKind, ColumnSpec, TrainOptions};

    fn specs(kinds: &[ColumnKind]) -> Vec<ColumnSpec> {
        kinds
            .iter()
            .enumerate()
            .map(|(j, &kind)| ColumnSpec {
                name: format!("c{j}"),
                kind,
            })
            .collect()
    }

    /// Three correlated numeric columns, a noise column.
    fn numeric_rows(n: usize, seed: u64) -> Vec<Vec<Value<'static>>> {
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

    fn small() -> StudentOptions {
        StudentOptions {
            steps: 2000,
            base_rows: 1000,
            min_perturbed: 500,
            ..Default::default()
        }
    }

    fn teacher(rows: &[Vec<Value<'static>>], kinds: &[ColumnKind]) -> Model {
        let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let opts = TrainOptions {
            epochs: Some(5),
            ..Default::default()
        };
        let (m, _) = train(&specs(kinds), rows, &opts, &pool, &mut |_| true)
            .unwrap_or_else(|e| panic!("{e}"));
        m
    }

    #[test]
    fn deterministic_with_a_seed() {
        let rows = numeric_rows(600, 1);
        let m = teacher(&rows, &[ColumnKind::Numeric; 4]);
        let p1 = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let p2 = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
        let o = StudentOptions {
            steps: 100,
            ..small()
        };
        let a = distill(&m, &rows, &o, &p1);
        let b = distill(&m, &rows, &o, &p2);
        assert_eq!(a, b);
        let c = distill(&m, &rows, &StudentOptions { seed: 7, ..o }, &p1);
        assert_ne!(a, c);
    }

    /// The student follows the teacher: high rank correlation on held-out and
    /// perturbed rows, the clear outliers on top, parts summing to the score.
    #[test]
    fn fits_the_teacher() {
        let rows = numeric_rows(1500, 2);
        let m = teacher(&rows, &[ColumnKind::Numeric; 4]);
        let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        let st = distill(&m, &rows, &small(), &pool);
        let mut test = numeric_rows(300, 3);
        for (i, r) in test.iter_mut().enumerate().take(30) {
            // Break the correlation or push a value out.
            r[1] = Value::Num(if i % 2 == 0 { 6.0 } else { -6.0 });
        }
        let mut ts = m.scratch();
        let mut ss = st.scratch();
        let teach: Vec<f64> = test
            .iter()
            .map(|r| m.score(r, &mut ts).unwrap_or(f64::NAN))
            .collect();
        let stud: Vec<f64> = test.iter().map(|r| st.score(&m, r, &mut ss)).collect();
        let rho = crate::metrics::spearman(&teach, &stud);
        assert!(rho > 0.85, "spearman {rho}");
        let labels: Vec<bool> = (0..test.len()).map(|i| i < 30).collect();
        let auc = crate::metrics::auroc(&stud, &labels).unwrap_or(0.0);
        assert!(auc > 0.95, "auroc {auc}");
        let mut parts = Vec::new();
        st.parts(&m, &test[0], &mut ss, &mut parts);
        let total: f64 = parts.iter().sum();
        assert!((total - stud[0]).abs() < 1e-9 * (1.0 + total.abs()));
        // Default: 4 values + 4 kNN inputs -> 64 -> 32 -> 1, plus a 256-row scan of 4 columns.
        assert_eq!(
            st.flops_per_row(),
            2.0 * (8.0 * 64.0 + 64.0 * 32.0 + 32.0) + 3.0 * 4.0 * 256.0
        );
    }

    #[test]
    fn nulls_and_categories_do_not_panic() {
        let kinds = [
            ColumnKind::Numeric,
            ColumnKind::Categorical,
            ColumnKind::Numeric,
        ];
        let mut rng = Rng::new(5);
        let rows: Vec<Vec<Value<'static>>> = (0..300)
            .map(|i| {
                let a = rng.normal();
                vec![
                    if i % 7 == 0 {
                        Value::Null
                    } else {
                        Value::Num(a)
                    },
                    if i % 11 == 0 {
                        Value::Null
                    } else {
                        Value::Text(Cow::Owned(["x", "y", "z"][i % 3].to_string()))
                    },
                    Value::Num(a + 0.1 * rng.normal()),
                ]
            })
            .collect();
        let m = teacher(&rows, &kinds);
        let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
        for (soft, marg, mode, proto_rows) in [
            (false, false, "recon", 0),
            (true, true, "single", 64),
            (false, true, "direct", 0),
            (false, false, "spread", 64),
        ] {
            let o = StudentOptions {
                steps: 50,
                soft_inputs: soft,
                marg_inputs: marg,
                mode: mode.into(),
                proto_rows,
                ..small()
            };
            let st = distill(&m, &rows, &o, &pool);
            let mut s = st.scratch();
            let odd = [
                vec![Value::Null, Value::Null, Value::Null],
                vec![
                    Value::Num(f64::INFINITY),
                    Value::Text(Cow::Borrowed("never seen")),
                    Value::Num(f64::NAN),
                ],
                vec![Value::Num(-1e300), Value::Num(3.0), Value::Text("a".into())],
            ];
            for r in rows.iter().take(20).chain(odd.iter()) {
                let v = st.score(&m, r, &mut s);
                assert!(v.is_finite() && v >= 0.0, "{v}");
            }
        }
    }
}
