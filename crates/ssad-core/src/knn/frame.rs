//! The rotation of a reference to its principal axes: distances are the
//! same, and the leading axes carry most of the spread, so bounds on them
//! rule most blocks out.

use crate::aligned::Aligned;
use crate::kernels;

/// Widest reference rotated to its principal axes (the eigen-decomposition
/// costs O(d^3) at load); wider ones only order their columns by variance.
pub(super) const ROTATE_MAX_D: usize = 64;

/// How a row maps into the index's frame.
#[derive(Clone, Debug)]
pub(super) enum Frame {
    /// `y = bias + x R` (`d x m` row-major: the principal axes of the m varying
    /// columns by decreasing variance; zero rows for the columns left out).
    Rotate { r: Aligned, bias: Vec<f32> },
    /// `y_c = x_{perm_c}`: the varying columns by decreasing variance
    /// (none for an empty reference).
    Permute(Vec<u32>),
}

impl Default for Frame {
    fn default() -> Self {
        Frame::Permute(Vec::new())
    }
}

impl Frame {
    /// `apply` for `r` rows at once (row-major): the same bits per row
    /// (`gemv_rows`), each load of the rotation serving two rows.
    pub(super) fn apply_tile(&self, xs: &[f32], r: usize, ys: &mut [f32]) {
        match self {
            Frame::Rotate { r: rot, bias } => kernels::selected().gemv_rows(ys, bias, rot, xs, r),
            Frame::Permute(_) => {
                let (d_in, m) = (xs.len() / r.max(1), self.dim());
                for (x, y) in xs
                    .chunks_exact(d_in.max(1))
                    .zip(ys.chunks_exact_mut(m.max(1)))
                {
                    self.apply(x, y);
                }
            }
        }
    }

    pub(super) fn apply(&self, x: &[f32], y: &mut [f32]) {
        match self {
            Frame::Rotate { r, bias } => kernels::selected().gemv(y, bias, r, x),
            Frame::Permute(perm) => {
                for (o, &p) in y.iter_mut().zip(perm) {
                    *o = x[p as usize];
                }
            }
        }
    }
}

impl Frame {
    /// The principal axes of the rows' varying columns (up to `ROTATE_MAX_D`
    /// of them), else those columns by decreasing variance; and the columns
    /// every row shares one value in (categories: the kNN coordinate is 0),
    /// which add the same to every distance and are left out of the search.
    pub(super) fn fit(d: usize, rows: &[f32]) -> (Self, Vec<(u32, f32)>) {
        let mut keep: Vec<usize> = (0..d)
            .filter(|&j| rows.chunks_exact(d).any(|r| r[j] != rows[j]))
            .collect();
        if keep.is_empty() {
            // Nothing varies: search one column (every row ties).
            keep.push(0);
        }
        let mut kept = vec![false; d];
        keep.iter().for_each(|&j| kept[j] = true);
        let consts = (0..d)
            .filter(|&j| !kept[j])
            .map(|j| (j as u32, rows[j]))
            .collect();
        let m = keep.len();
        let mean = crate::linalg::column_means(rows, d, &keep);
        if m > ROTATE_MAX_D {
            // The variances alone (a covariance of m x m would grow with
            // the square of the columns): the same products and sums as the
            // covariance's diagonal.
            let mut var = vec![0.0f64; m];
            for r in rows.chunks_exact(d) {
                for ((v, &j), &mu) in var.iter_mut().zip(&keep).zip(&mean) {
                    let cb = r[j] as f64 - mu;
                    *v += cb * cb;
                }
            }
            let mut perm: Vec<usize> = (0..m).collect();
            perm.sort_by(|&a, &b| var[b].total_cmp(&var[a]).then(a.cmp(&b)));
            return (
                Frame::Permute(perm.iter().map(|&a| keep[a] as u32).collect()),
                consts,
            );
        }
        let cov = crate::linalg::centred_products(rows, d, &keep, &mean, |c| c);
        let axes = principal_axes(cov, m);
        // d x m: the rows of the columns left out stay zero.
        let mut r = vec![0.0f32; d * m];
        for (a, &j) in keep.iter().enumerate() {
            for c in 0..m {
                r[j * m + c] = axes[a * m + c] as f32;
            }
        }
        let bias = (0..m)
            .map(|c| -(0..m).map(|a| mean[a] * axes[a * m + c]).sum::<f64>() as f32)
            .collect();
        (Frame::Rotate { r: r.into(), bias }, consts)
    }

    /// Every row of `rows` (`d_in` columns each) in the frame, row-major.
    pub(super) fn apply_rows(&self, d_in: usize, rows: &[f32]) -> Vec<f32> {
        let d = self.dim();
        let mut y = vec![0.0f32; rows.len() / d_in * d];
        for (src, dst) in rows.chunks_exact(d_in).zip(y.chunks_exact_mut(d)) {
            self.apply(src, dst);
        }
        y
    }

    /// Columns of the frame.
    pub(super) fn dim(&self) -> usize {
        match self {
            Frame::Rotate { bias, .. } => bias.len(),
            Frame::Permute(p) => p.len(),
        }
    }
}

/// Eigenvectors of the symmetric `d x d` matrix `a` (row-major): column c
/// of the result is the axis of the c-th largest eigenvalue.
pub(super) fn principal_axes(a: Vec<f64>, d: usize) -> Vec<f64> {
    let (values, v) = crate::linalg::symmetric_eigen(a, d);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&x, &y| values[y].total_cmp(&values[x]).then(x.cmp(&y)));
    let mut out = vec![0.0f64; d * d];
    for (c, &src) in order.iter().enumerate() {
        for i in 0..d {
            out[i * d + c] = v[i * d + src];
        }
    }
    out
}
