//! A trained model and its deterministic scoring: a fixed set of stored masks,
//! per-column prediction errors normalised by their training mean, plus a
//! per-column marginal term. The score is a sum of per-column contributions,
//! which is what explanations show.
//!
//! With a distilled student (the default), scoring replaces the masked
//! network passes by the student's estimate of the mean prediction term; the
//! marginal and kNN terms stay exact. Explanations still run the teacher and
//! rescale its per-column prediction terms to the student's total.

use crate::encode::{ColumnEncoder, Expected};
use crate::error::{CoreError, Result};
use crate::knn::{KnnScratch, Reference};
use crate::linear::Linear;
use crate::nn::Mlp;
use crate::options::ResolvedOptions;
use crate::schema::{ColumnSpec, Value};
use crate::student::{self, Student};
use crate::tails::Tails;
use std::borrow::Borrow;

/// Values among the rarest `MARGINAL_RARE` share of their column (by density
/// level; for a bell-shaped column, the outer 1% on either side) earn a marginal
/// term; ordinary values earn none, so the term adds evidence without noise.
pub const MARGINAL_RARE: f64 = 0.02;

/// A score (or an explanation's term) as returned: itself when finite, else
/// `f64::MAX`, the most anomalous score a float8 holds. Values are bounded
/// where they enter the terms (`NumericEncoder::z`, `Density::surprise`),
/// so no row makes a term NaN; but a model of formats 1 to 5 prices a value
/// by its distance beyond the range in nats without a bound below
/// `f64::MAX`, and its weighted sum can overflow. Such a row is as
/// anomalous as a score can say, never NaN (whose quantile would be 0).
#[inline]
pub fn saturated(score: f64) -> f64 {
    if score.is_finite() {
        score
    } else {
        f64::MAX
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub columns: Vec<ColumnSpec>,
    pub encoders: Vec<ColumnEncoder>,
    pub net: Mlp,
    /// Fixed scoring masks: the column indices each one hides.
    pub masks: Vec<Vec<u16>>,
    /// Mean training prediction error per column (divides the raw error).
    pub err_norm: Vec<f32>,
    /// Divisor of the hinged marginal term per column (1.0: the hinge is already in nats).
    pub marg_norm: Vec<f32>,
    /// Weight of the marginal term next to the prediction term.
    pub marg_weight: f32,
    /// Trimmed reference sample of training rows for the kNN term.
    pub reference: Reference,
    /// Weight of the kNN term next to the prediction term.
    pub knn_weight: f32,
    /// Training-sample scores at probabilities k / (len - 1).
    pub score_quantiles: Vec<f64>,
    /// Distilled estimate of the prediction term used by `score` (None: the exact masked passes).
    pub student: Option<Student>,
    /// Linear residual of each column given the others, added to its
    /// prediction term (None: models of format 1 and 2).
    pub linear: Option<Linear>,
    /// The small-table tail term, added to the marginal term (None: tables
    /// of about 1,750 rows on, and models before format 5).
    pub tails: Option<Tails>,
    pub options: ResolvedOptions,
    /// Derived from `encoders` when the model is built or decoded.
    pub layout: Layout,
}

/// Where each column's slots sit in the network's input and output.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub in_off: Vec<usize>,
    pub out_off: Vec<usize>,
    /// Value slots; the d mask flags follow them in the input.
    pub n_values: usize,
    pub n_in: usize,
    pub n_out: usize,
}

impl Layout {
    pub fn new(encoders: &[ColumnEncoder]) -> Self {
        let (mut in_off, mut out_off) = (Vec::new(), Vec::new());
        let (mut i, mut o) = (0, 0);
        for e in encoders {
            in_off.push(i);
            out_off.push(o);
            i += e.in_width();
            o += e.out_width();
        }
        Layout {
            in_off,
            out_off,
            n_values: i,
            n_in: i + encoders.len(),
            n_out: o,
        }
    }

    /// Hide column j in an input row: zero its value slots, raise its mask flag.
    #[inline]
    pub fn hide(&self, enc: &ColumnEncoder, j: usize, x: &mut [f32]) {
        x[self.in_off[j]..self.in_off[j] + enc.in_width()].fill(0.0);
        x[self.n_values + j] = 1.0;
    }
}

/// Per-column breakdown of one row's score.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub column: usize,
    /// Share of the score due to this column (prediction + marginal terms).
    pub contribution: f64,
    /// Normalised prediction error (1.0 is a typical training row): the
    /// network's, plus the weighted, hinged squared standardised residual of a
    /// linear regression of the column on the others (see `linear`).
    pub prediction_term: f64,
    /// Marginal surprise beyond the rarest 2% of the column's values (by density
    /// level: far tails, gaps inside the range, rare levels), in nats; 0.0 for ordinary values.
    pub marginal_term: f64,
    /// This column's share of the normalised distance to the nearest reference rows.
    pub knn_term: f64,
    /// The model's expectation for this column, in the column's own units.
    pub expected: Expected,
}

/// The prediction terms an explanation shows: the teacher's, the teacher's
/// rescaled by a factor (to the student's total), or the student's mean for every column.
#[derive(Clone, Copy)]
enum Pred {
    Teacher,
    Scaled(f64),
    Flat(f64),
}

/// A row's per-column kNN shares, when the batch path has computed them
/// already (its kNN coordinates `prepare_row_with` computes again, the same
/// bits as `knn_coords`).
#[derive(Clone, Copy)]
pub(crate) struct KnnDone<'a> {
    pub cols: &'a [f64],
    /// The linear term's residuals (`Linear::residuals_rows`), when the
    /// model has one.
    pub lin: Option<&'a [f32]>,
}

/// Reusable buffers for one-row scoring, so the inline path allocates nothing per row.
#[derive(Clone, Debug)]
pub struct Scratch {
    base: Vec<f32>,
    /// First-layer pre-activation of the row with nothing hidden.
    z_base: Vec<f32>,
    /// Per column: how hiding it changes the first-layer pre-activation.
    corr: Vec<f32>,
    /// First-layer pre-activations, one row per mask.
    pre: Vec<f32>,
    /// Upper-layer activations, one row per mask.
    hidden: [Vec<f32>; 2],
    targets: Vec<Option<f32>>,
    err_sum: Vec<f32>,
    /// Output slots summed over the masks that hid each column.
    pred_sum: Vec<f32>,
    hits: Vec<u32>,
    marg: Vec<f64>,
    /// Weighted tail terms (`tails`), 0 without them.
    tail: Vec<f64>,
    /// Normalised marginal terms (the hybrid path computes them once per row).
    marg_n: Vec<f64>,
    z: Vec<f32>,
    pub(crate) knn: KnnScratch,
    knn_cols: Vec<f64>,
    /// Standardised linear residual per column.
    lin: Vec<f32>,
    /// The student's input and hidden activations.
    pub(crate) student_x: Vec<f32>,
    /// The student's per-column inputs before `squash` (marginals, kNN shares).
    student_terms: Vec<f64>,
    student_hidden: [Vec<f32>; 2],
}

impl Scratch {
    /// Tests: whether no masked pass has run on this scratch.
    #[cfg(test)]
    pub(crate) fn hits_are_zero(&self) -> bool {
        self.hits.iter().all(|&h| h == 0)
    }

    /// Size the student's buffers (the teacher's and the student's shapes are the model's).
    fn size_for_student(&mut self, m: &Model) {
        let d = m.columns.len();
        self.student_x = vec![0.0; Student::n_in(m.layout.n_values, d)];
        self.student_terms = vec![0.0; 2 * d];
        let w = m
            .student
            .as_ref()
            .map_or(0, |st| st.net.max_width().max(st.net.n_out()));
        self.student_hidden = [vec![0.0; w], vec![0.0; w]];
    }
}

impl Model {
    /// Where each column sits in the network's input and output; kept with
    /// the model so per-row scoring never rebuilds it.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    pub fn scratch(&self) -> Scratch {
        let l = self.layout();
        let d = self.columns.len();
        let w = self.net.max_width().max(l.n_out);
        let h1 = self.net.layers.first().map_or(0, |l| l.n_out);
        let mut s = Scratch {
            base: vec![0.0; l.n_in],
            z_base: vec![0.0; h1],
            corr: vec![0.0; d * h1],
            pre: vec![0.0; self.masks.len() * h1],
            hidden: [
                vec![0.0; self.masks.len() * w],
                vec![0.0; self.masks.len() * w],
            ],
            targets: vec![None; d],
            err_sum: vec![0.0; d],
            pred_sum: vec![0.0; l.n_out],
            hits: vec![0; d],
            marg: vec![0.0; d],
            tail: vec![0.0; d],
            marg_n: vec![0.0; d],
            z: vec![0.0; d],
            knn: KnnScratch::default(),
            knn_cols: vec![0.0; d],
            lin: vec![0.0; d],
            student_x: Vec::new(),
            student_terms: Vec::new(),
            student_hidden: [Vec::new(), Vec::new()],
        };
        s.size_for_student(self);
        s
    }

    pub(crate) fn check_arity(&self, row: &[Value<'_>]) -> Result<()> {
        self.check_len(row.len())
    }

    fn check_len(&self, n: usize) -> Result<()> {
        if n != self.columns.len() {
            return Err(CoreError::RowMismatch(format!(
                "expected {} values, got {n}",
                self.columns.len(),
            )));
        }
        Ok(())
    }

    /// Raw per-column prediction errors and marginals into the scratch.
    fn raw_terms(&self, layout: &Layout, row: &[Value<'_>], s: &mut Scratch) {
        self.prepare_row(layout, row, s, true);
        self.masked_errors(layout, s);
    }

    /// The per-row inputs of scoring: encoded input, marginals, kNN terms, and
    /// the prediction targets when the masked passes will run.
    fn prepare_row(&self, layout: &Layout, row: &[Value<'_>], s: &mut Scratch, targets: bool) {
        self.prepare_row_with(layout, row, s, targets, None)
    }

    /// `prepare_row`, with the kNN shares given (`knn`) when the batch path
    /// computed them for many rows at once.
    pub(crate) fn prepare_row_with(
        &self,
        layout: &Layout,
        row: &[Value<'_>],
        s: &mut Scratch,
        targets: bool,
        knn: Option<KnnDone<'_>>,
    ) {
        s.base.fill(0.0);
        let targets = targets.then_some(&mut s.targets[..]);
        self.encode_into(layout, row, &mut s.base, &mut s.marg, &mut s.z, targets);
        self.finish_row(s, knn);
    }

    /// Each value of `row` read, scaled and looked up once (`encode_parts`):
    /// its value slots into `base`, its marginal, its kNN coordinate and,
    /// when asked, its prediction target.
    #[inline]
    fn encode_into<'v, V: Borrow<Value<'v>>>(
        &self,
        layout: &Layout,
        row: impl IntoIterator<Item = V>,
        base: &mut [f32],
        marg: &mut [f64],
        z: &mut [f32],
        mut targets: Option<&mut [Option<f32>]>,
    ) {
        for (j, (enc, v)) in self.encoders.iter().zip(row).enumerate() {
            let off = layout.in_off[j];
            let parts = enc.encode_parts(v.borrow(), &mut base[off..off + enc.in_width()]);
            if let Some(t) = targets.as_deref_mut() {
                t[j] = parts.target;
            }
            marg[j] = parts.marginal;
            z[j] = parts.knn_coord;
        }
    }

    /// The encoding `prepare_row_with` computes of `row` (`encode_into`, no
    /// targets), into plain buffers: the value slots `base` (`n_values`), the marginals and
    /// the kNN coordinates. The batch path encodes a row once with it and
    /// hands the parts to `prepare_row_encoded` after the chunk's search.
    pub(crate) fn encode_row<'v, V: Borrow<Value<'v>>>(
        &self,
        layout: &Layout,
        row: impl ExactSizeIterator<Item = V>,
        base: &mut [f32],
        marg: &mut [f64],
        z: &mut [f32],
    ) -> Result<()> {
        self.check_len(row.len())?;
        self.encode_into(layout, row, base, marg, z, None);
        Ok(())
    }

    /// `prepare_row_with` (no targets) of a row `encode_row` encoded: the
    /// same scratch state.
    pub(crate) fn prepare_row_encoded(
        &self,
        layout: &Layout,
        base: &[f32],
        marg: &[f64],
        z: &[f32],
        s: &mut Scratch,
        knn: Option<KnnDone<'_>>,
    ) {
        let nv = layout.n_values;
        s.base[..nv].copy_from_slice(base);
        s.base[nv..].fill(0.0);
        s.marg.copy_from_slice(marg);
        s.z.copy_from_slice(z);
        self.finish_row(s, knn);
    }

    /// The kNN shares and linear residuals of the row whose coordinates are
    /// in `s.z` (given when the batch path computed them).
    fn finish_row(&self, s: &mut Scratch, knn: Option<KnnDone<'_>>) {
        if let Some(t) = &self.tails {
            for (j, (o, &z)) in s.tail.iter_mut().zip(&s.z).enumerate() {
                *o = t.term(j, z);
            }
        }
        if let Some(done) = knn {
            s.knn_cols.copy_from_slice(done.cols);
        } else if self.knn_weight > 0.0 {
            self.reference.distance(&s.z, &mut s.knn, &mut s.knn_cols);
        } else {
            s.knn_cols.fill(0.0);
        }
        match &self.linear {
            Some(l) => {
                if s.lin.len() != l.d {
                    // A scratch made before the linear term was attached: sized once.
                    s.lin = vec![0.0; l.d];
                }
                match knn.and_then(|done| done.lin) {
                    Some(lin) => s.lin.copy_from_slice(lin),
                    None => l.residuals(&s.z, &mut s.lin),
                }
            }
            None => s.lin.fill(0.0),
        }
    }

    /// Tests: every column's weighted linear term for a row.
    #[cfg(test)]
    pub(crate) fn linear_terms(&self, row: &[Value<'_>]) -> Vec<f64> {
        let mut s = self.scratch();
        self.prepare_row(self.layout(), row, &mut s, false);
        (0..self.columns.len())
            .map(|j| self.linear_term(&s, j))
            .collect()
    }

    /// Column j's weighted linear term (0 without one), added to its prediction term.
    #[inline]
    fn linear_term(&self, s: &Scratch, j: usize) -> f64 {
        match &self.linear {
            Some(l) => l.term(s.lin[j]),
            None => 0.0,
        }
    }

    /// Prediction errors of the hidden columns under every stored mask.
    fn masked_errors(&self, layout: &Layout, s: &mut Scratch) {
        s.err_sum.fill(0.0);
        s.pred_sum.fill(0.0);
        s.hits.fill(0);
        // The first layer is linear in the masked input: compute it once for
        // the whole row, and per column the change that hiding it makes
        // (raise its flag, remove its values); each mask then costs k vector
        // additions instead of a full first-layer pass.
        let k = crate::kernels::selected();
        let first = &self.net.layers[0];
        let h = first.n_out;
        k.gemv(&mut s.z_base, &first.b, &first.w, &s.base);
        for (j, enc) in self.encoders.iter().enumerate() {
            let corr = &mut s.corr[j * h..(j + 1) * h];
            let flag = layout.n_values + j;
            corr.copy_from_slice(&first.w[flag * h..(flag + 1) * h]);
            for slot in layout.in_off[j]..layout.in_off[j] + enc.in_width() {
                let v = s.base[slot];
                if v != 0.0 {
                    k.axpy(corr, -v, &first.w[slot * h..(slot + 1) * h]);
                }
            }
        }
        // Every mask's first-layer pre-activation, then the upper layers for
        // all masks at once as matrix products (each weight load serves 4 masks).
        let n_masks = self.masks.len();
        for (mi, mask) in self.masks.iter().enumerate() {
            k.add_rows(&mut s.pre[mi * h..(mi + 1) * h], &s.z_base, &s.corr, mask);
        }
        let n_out = layout.n_out;
        let outs = self
            .net
            .forward_rows_from_first(&mut s.pre, n_masks, &mut s.hidden);
        for (mi, mask) in self.masks.iter().enumerate() {
            let out = &outs[mi * n_out..(mi + 1) * n_out];
            for &j in mask {
                let j = j as usize;
                let enc = &self.encoders[j];
                let (o, w) = (layout.out_off[j], enc.out_width());
                let ys = &out[o..o + w];
                for (acc, &y) in s.pred_sum[o..o + w].iter_mut().zip(ys) {
                    *acc += y;
                }
                s.hits[j] += 1;
                if let Some(t) = s.targets[j] {
                    s.err_sum[j] += enc.error(ys, t);
                }
            }
        }
    }

    /// Unnormalised (mean prediction error, marginal) per column: used to fit the normalisers.
    pub fn raw_column_terms(&self, row: &[Value<'_>], s: &mut Scratch, out: &mut [(f64, f64)]) {
        let layout = self.layout();
        self.raw_terms(layout, row, s);
        for (j, o) in out.iter_mut().enumerate().take(self.columns.len()) {
            let e = if s.hits[j] > 0 {
                s.err_sum[j] / s.hits[j] as f32
            } else {
                0.0
            };
            *o = (e as f64, s.marg[j]);
        }
    }

    /// Normalised (prediction, marginal, kNN) terms of column j.
    fn term(&self, s: &Scratch, j: usize) -> (f64, f64, f64) {
        let e = if s.hits[j] > 0 {
            s.err_sum[j] / s.hits[j] as f32
        } else {
            0.0
        };
        let (p, m) = self.normalise(j, e as f64, s.marg[j]);
        // Scaled by d so that, like the other terms, the column mean is ~1 on a typical row.
        (p, m, s.knn_cols[j] * self.columns.len() as f64)
    }

    /// Raw error of column j divided by its training mean; the raw marginal
    /// hinged at the rarest `MARGINAL_RARE` share (0 for ordinary values),
    /// divided by `marg_norm`.
    pub(crate) fn normalise(&self, j: usize, err: f64, marg: f64) -> (f64, f64) {
        let floor = -MARGINAL_RARE.ln();
        (
            err / self.err_norm[j] as f64,
            (marg - floor).max(0.0) / self.marg_norm[j] as f64,
        )
    }

    /// Column j's share of the score from its normalised terms.
    pub(crate) fn combine(&self, pred: f64, marg: f64, knn: f64) -> f64 {
        let (wm, wk) = (self.marg_weight as f64, self.knn_weight as f64);
        (pred + wm * marg + wk * knn) / ((1.0 + wm + wk) * self.columns.len() as f64)
    }

    /// Anomaly score of one row (values in model column order); higher is more anomalous.
    pub fn score(&self, row: &[Value<'_>], s: &mut Scratch) -> Result<f64> {
        self.score_with(row, s, None)
    }

    /// Whether the model's categorical columns know a long text by its key
    /// (`categorical::Scheme::KeyedLevelSet`): a scan may read such texts as
    /// their keys.
    pub fn keys_long_texts(&self) -> bool {
        self.encoders.iter().all(|e| match e {
            ColumnEncoder::Categorical(c) => {
                c.scheme == crate::encode::categorical::Scheme::KeyedLevelSet
            }
            ColumnEncoder::Numeric(_) => true,
        })
    }

    /// Whether scoring searches the kNN reference (the batch path then
    /// searches for many rows at once).
    pub(crate) fn uses_knn(&self) -> bool {
        self.knn_weight > 0.0
    }

    /// The kNN coordinates of `row` into `z` (as `prepare_row` computes them).
    pub(crate) fn knn_coords(&self, row: &[Value<'_>], z: &mut [f32]) -> Result<()> {
        self.check_arity(row)?;
        for ((o, enc), v) in z.iter_mut().zip(&self.encoders).zip(row) {
            *o = enc.knn_coord(v);
        }
        Ok(())
    }

    /// `score`, with the kNN shares of the row given when already computed.
    pub(crate) fn score_with(
        &self,
        row: &[Value<'_>],
        s: &mut Scratch,
        knn: Option<KnnDone<'_>>,
    ) -> Result<f64> {
        self.check_arity(row)?;
        let layout = self.layout();
        self.prepare_row_with(layout, row, s, self.student.is_none(), knn);
        match &self.student {
            Some(st) => {
                let p = self.student_prediction(st, layout, s);
                Ok(self.hybrid_total(p, s))
            }
            None => {
                self.masked_errors(layout, s);
                Ok(self.total(s))
            }
        }
    }

    /// The student's mean prediction term for the row prepared in the scratch.
    fn student_prediction(&self, st: &Student, layout: &Layout, s: &mut Scratch) -> f64 {
        if s.student_hidden[0].len() < st.net.max_width().max(st.net.n_out()) {
            // A scratch made before the student was attached: sized once.
            s.size_for_student(self);
        }
        self.student_input(layout, s);
        st.mean_prediction(&s.student_x, &mut s.student_hidden)
    }

    /// Fill `s.student_x` from the prepared row: value slots, then per column
    /// the normalised marginal and the kNN share, compressed.
    pub(crate) fn student_input(&self, layout: &Layout, s: &mut Scratch) {
        let d = self.columns.len();
        let nv = layout.n_values;
        if s.student_x.len() != Student::n_in(nv, d) {
            // A scratch made before the student was attached: sized once.
            s.size_for_student(self);
        }
        s.student_x[..nv].copy_from_slice(&s.base[..nv]);
        for j in 0..d {
            let (_, m) = self.normalise(j, 0.0, s.marg[j]);
            s.marg_n[j] = m;
            s.student_terms[j] = m;
            s.student_terms[d + j] = s.knn_cols[j] * d as f64;
        }
        // One SIMD pass for the 2d logarithms.
        student::squash_all(&mut s.student_x[nv..], &s.student_terms);
    }

    /// The score with the prediction term `p` (mean over columns) for every
    /// column, the marginal and kNN terms exact; the teacher's formula otherwise.
    /// Reads the normalised marginals `student_input` left in the scratch.
    pub(crate) fn hybrid_total(&self, p: f64, s: &Scratch) -> f64 {
        let d = self.columns.len() as f64;
        saturated(
            (0..self.columns.len())
                .map(|j| {
                    self.combine(
                        p + self.linear_term(s, j),
                        s.marg_n[j] + s.tail[j],
                        s.knn_cols[j] * d,
                    )
                })
                .sum(),
        )
    }

    /// Distillation: the teacher's mean normalised prediction term of a row
    /// (non-finite terms as 0), and the student's input for it into `x`.
    pub(crate) fn teacher_mean_prediction(
        &self,
        row: &[Value<'_>],
        s: &mut Scratch,
        x: &mut [f32],
    ) -> f64 {
        let layout = self.layout();
        self.raw_terms(layout, row, s);
        self.student_input(layout, s);
        x.copy_from_slice(&s.student_x);
        let d = self.columns.len();
        (0..d)
            .map(|j| {
                let p = self.term(s, j).0;
                if p.is_finite() {
                    p.max(0.0)
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / d.max(1) as f64
    }

    /// The score from the raw terms in the scratch.
    fn total(&self, s: &Scratch) -> f64 {
        saturated(
            (0..self.columns.len())
                .map(|j| {
                    let (p, m, k) = self.term(s, j);
                    self.combine(p + self.linear_term(s, j), m + s.tail[j], k)
                })
                .sum(),
        )
    }

    /// Per-column contributions, in column order; they sum to the score.
    /// With a student, the teacher's per-column prediction terms are rescaled
    /// to sum to the student's total, so the contributions sum to `score` and
    /// the attribution follows the teacher. A term beyond f64's range (a
    /// model of formats 1 to 5 given a value far beyond a column's range)
    /// is `saturated`, as the score is.
    pub fn explain(&self, row: &[Value<'_>], s: &mut Scratch) -> Result<Vec<Contribution>> {
        self.check_arity(row)?;
        let layout = self.layout();
        self.raw_terms(layout, row, s);
        let d = self.columns.len();
        let pred = match &self.student {
            None => Pred::Teacher,
            Some(st) => {
                let p = self.student_prediction(st, layout, s);
                let teacher: f64 = (0..d).map(|j| self.term(s, j).0).sum();
                if teacher > 0.0 && teacher.is_finite() {
                    Pred::Scaled(p * d as f64 / teacher)
                } else {
                    // Nothing to follow: the student's mean for every column.
                    Pred::Flat(p)
                }
            }
        };
        Ok((0..d)
            .map(|j| {
                let (p, m, k) = self.term(s, j);
                let m = m + s.tail[j];
                let p = match pred {
                    Pred::Teacher => p,
                    Pred::Scaled(f) => p * f,
                    Pred::Flat(v) => v,
                } + self.linear_term(s, j);
                let enc = &self.encoders[j];
                let o = layout.out_off[j];
                let expected = if s.hits[j] > 0 {
                    enc.expectation(&s.pred_sum[o..o + enc.out_width()], s.hits[j])
                } else {
                    Expected::Null
                };
                Contribution {
                    column: j,
                    contribution: saturated(self.combine(p, m, k)),
                    prediction_term: saturated(p),
                    marginal_term: saturated(m),
                    knn_term: saturated(k),
                    expected,
                }
            })
            .collect())
    }

    /// The score's position among training scores, in [0, 1].
    pub fn quantile(&self, score: f64) -> f64 {
        let q = &self.score_quantiles;
        if q.len() < 2 {
            return 0.5;
        }
        let k = (q.len() - 1) as f64;
        let i = q.partition_point(|&v| v < score);
        if i == 0 {
            return 0.0;
        }
        if i >= q.len() {
            return 1.0;
        }
        let (a, b) = (q[i - 1], q[i]);
        let f = if b > a { (score - a) / (b - a) } else { 0.5 };
        // Quantiles of formats before 6 may hold the infinities or NaN of
        // the training scores they were taken from: then a step's middle.
        let f = if f.is_nan() { 0.5 } else { f };
        ((i - 1) as f64 + f) / k
    }
}

#[cfg(test)]
mod tests {
    use crate::rng::Rng;
    use crate::{ColumnKind, ColumnSpec, TrainOptions, Value};
    use std::borrow::Cow;

    /// The incremental first layer (once per row, corrected per mask) must give
    /// what a direct pass over each masked input gives, up to float rounding.
    #[test]
    fn incremental_first_layer_matches_direct_masked_pass() {
        let specs = vec![
            ColumnSpec {
                name: "a".into(),
                kind: ColumnKind::Numeric,
            },
            ColumnSpec {
                name: "b".into(),
                kind: ColumnKind::Numeric,
            },
            ColumnSpec {
                name: "c".into(),
                kind: ColumnKind::Categorical,
            },
            ColumnSpec {
                name: "d".into(),
                kind: ColumnKind::Numeric,
            },
        ];
        let mut rng = Rng::new(3);
        let rows: Vec<Vec<Value<'static>>> = (0..400)
            .map(|i| {
                let a = rng.normal();
                vec![
                    Value::Num(a),
                    if i % 9 == 0 {
                        Value::Null
                    } else {
                        Value::Num(2.0 * a)
                    },
                    Value::Text(Cow::Owned(["x", "y", "z"][i % 3].to_string())),
                    Value::Num(rng.normal()),
                ]
            })
            .collect();
        let opts = TrainOptions {
            epochs: Some(3),
            ..Default::default()
        };
        let m = crate::train::fit_for_test(&specs, &rows, &opts);
        let layout = m.layout();
        let mut s = m.scratch();
        for row in rows.iter().take(20) {
            m.raw_terms(layout, row, &mut s);
            let h = m.net.layers[0].n_out;
            for mask in &m.masks {
                // Direct: build the masked input, full forward.
                let mut x = s.base.clone();
                for &j in mask {
                    layout.hide(&m.encoders[j as usize], j as usize, &mut x);
                }
                let mut hid = [vec![0.0; 256], vec![0.0; 256]];
                let direct = m.net.forward_row(&x, &mut hid).to_vec();
                // Incremental.
                let mut pre = s.z_base.clone();
                for &j in mask {
                    for (p, c) in pre
                        .iter_mut()
                        .zip(&s.corr[j as usize * h..(j as usize + 1) * h])
                    {
                        *p += c;
                    }
                }
                let mut hid2 = [vec![0.0; 256], vec![0.0; 256]];
                let inc = m
                    .net
                    .forward_rows_from_first(&mut pre, 1, &mut hid2)
                    .to_vec();
                for (u, v) in direct.iter().zip(&inc) {
                    assert!((u - v).abs() < 1e-4 * (1.0 + u.abs()), "{u} vs {v}");
                }
            }
        }
    }
}
