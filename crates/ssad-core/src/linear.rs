//! The linear "surprising given the other columns" evidence: per column, the
//! standardised residual of a linear regression of the column on all the
//! others, squared. For a Gaussian fit (mean, covariance Sigma of the kNN
//! coordinates, with a small ridge) it is (P c)_j^2 / P_jj, where P is the
//! precision matrix and c the centred row: one d x d matrix-vector product per
//! row. It sees rows that break a global (linear) correlation, the evidence
//! PCA/Mahalanobis detectors use, which a local kNN distance and a network
//! trained on a contaminated table can miss. The squared residual has a
//! training mean of about 1 per column, like the other terms; the term is
//! hinged at `LINEAR_HINGE` and weighted by `LINEAR_WEIGHT`.

use crate::aligned::Aligned;

/// Ridge added to the covariance's diagonal, as a share of its mean variance:
/// keeps near-collinear columns from turning rounding noise into evidence.
pub const RIDGE: f64 = 1e-2;
/// Weight of the linear residual inside the prediction term.
pub const LINEAR_WEIGHT: f32 = 0.25;
/// Squared residuals up to this earn nothing (about 84% of a Gaussian column's
/// rows): the term adds evidence of broken linear relations, not the noise of
/// relations a linear fit only approximates (e.g. curved ones).
pub const LINEAR_HINGE: f64 = 2.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub d: usize,
    /// Weight of the term (added to each column's prediction term).
    pub weight: f32,
    /// Row-major `d x d`, input-major: `w[j * d + i] = P_ij / sqrt(P_ii)`.
    pub w: Aligned,
    /// `b_i = -sum_j mean_j w[j * d + i]`, so the residuals are `b + z W`.
    pub b: Vec<f32>,
}

impl Linear {
    /// Fit on rows of `d` coordinates (row-major). None without at least two rows.
    pub fn fit(d: usize, rows: &[f32], weight: f32) -> Option<Self> {
        let n = rows.len().checked_div(d)?;
        if n < 2 || d == 0 {
            return None;
        }
        let nf = n as f64;
        let all: Vec<usize> = (0..d).collect();
        let mean = crate::linalg::column_means(rows, d, &all);
        let mut a = crate::linalg::centred_products(rows, d, &all, &mean, |c| c / nf);
        let trace: f64 = (0..d).map(|i| a[i * d + i]).sum();
        let ridge = RIDGE * trace / d as f64 + 1e-9;
        for i in 0..d {
            a[i * d + i] += ridge;
        }
        let p = spd_inverse(&a, d)?;
        let mut w = vec![0.0f32; d * d];
        for i in 0..d {
            let s = p[i * d + i].sqrt();
            for j in 0..d {
                w[j * d + i] = (p[i * d + j] / s) as f32;
            }
        }
        let b = (0..d)
            .map(|i| -(0..d).map(|j| mean[j] * w[j * d + i] as f64).sum::<f64>() as f32)
            .collect();
        let l = Linear {
            d,
            weight,
            w: w.into(),
            b,
        };
        l.is_valid().then_some(l)
    }

    /// Shapes and values a scorer can trust.
    pub fn is_valid(&self) -> bool {
        self.w.len() == self.d * self.d
            && self.b.len() == self.d
            && self.weight.is_finite()
            && self.weight >= 0.0
            && self.w.iter().chain(&self.b).all(|v| v.is_finite())
    }

    /// Standardised residuals of the coordinates `z` into `r` (`d` each).
    #[inline]
    pub fn residuals(&self, z: &[f32], r: &mut [f32]) {
        crate::kernels::selected().gemv(r, &self.b, &self.w, z);
    }

    /// `residuals` for `n` rows of coordinates at once (row-major): the same
    /// bits per row (`gemv_rows`).
    pub fn residuals_rows(&self, zs: &[f32], n: usize, r: &mut [f32]) {
        crate::kernels::selected().gemv_rows(r, &self.b, &self.w, zs, n);
    }

    /// The weighted, hinged term of one standardised residual.
    #[inline]
    pub fn term(&self, r: f32) -> f64 {
        self.weight as f64 * ((r as f64).powi(2) - LINEAR_HINGE).max(0.0)
    }

    /// Multiply-adds of one row, as FLOP.
    pub fn flops_per_row(&self) -> f64 {
        2.0 * (self.d * self.d) as f64
    }
}

/// Inverse of a symmetric positive-definite matrix by Cholesky; None if not SPD.
fn spd_inverse(a: &[f64], d: usize) -> Option<Vec<f64>> {
    // a = L L^T, L lower triangular.
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if !(v > 0.0 && v.is_finite()) {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    // Columns of L^-1 by forward substitution, then P = L^-T L^-1.
    let mut li = vec![0.0f64; d * d];
    for c in 0..d {
        for i in c..d {
            let s: f64 = (c..i).map(|k| l[i * d + k] * li[k * d + c]).sum();
            let e = if i == c { 1.0 } else { 0.0 };
            li[i * d + c] = (e - s) / l[i * d + i];
        }
    }
    let mut p = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let v: f64 = (i..d).map(|k| li[k * d + i] * li[k * d + j]).sum();
            p[i * d + j] = v;
            p[j * d + i] = v;
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn correlated(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut rows = Vec::with_capacity(n * 3);
        for _ in 0..n {
            let a = rng.normal();
            rows.extend([
                (1.0 + a) as f32,
                (2.0 * a + rng.normal()) as f32,
                rng.normal() as f32,
            ]);
        }
        rows
    }

    fn terms(l: &Linear, z: &[f32]) -> Vec<f64> {
        let mut r = vec![0.0f32; l.d];
        l.residuals(z, &mut r);
        r.iter().map(|&v| (v as f64).powi(2)).collect()
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let p = spd_inverse(&a, 3).unwrap_or_else(|| panic!("not SPD"));
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i * 3 + k] * p[k * 3 + j]).sum();
                assert!(
                    (v - f64::from(u8::from(i == j))).abs() < 1e-12,
                    "{i} {j} {v}"
                );
            }
        }
        assert!(spd_inverse(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn matches_the_conditional_gaussian_in_two_dimensions() {
        // For d = 2 the residual of column 0 is (x0 - E[x0 | x1]) / sd(x0 | x1)
        // under the fitted (ridged) covariance.
        let mut rng = Rng::new(9);
        let rows: Vec<f32> = (0..2000)
            .flat_map(|_| {
                let a = rng.normal();
                [a as f32, (0.8 * a + 0.5 * rng.normal()) as f32]
            })
            .collect();
        let l = Linear::fit(2, &rows, 1.0).unwrap_or_else(|| panic!("fit"));
        let n = 2000.0;
        let m0: f64 = rows.iter().step_by(2).map(|&v| v as f64).sum::<f64>() / n;
        let m1: f64 = rows
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&v| v as f64)
            .sum::<f64>()
            / n;
        let (mut s00, mut s01, mut s11) = (0.0, 0.0, 0.0);
        for r in rows.chunks_exact(2) {
            let (a, b) = (r[0] as f64 - m0, r[1] as f64 - m1);
            s00 += a * a / n;
            s01 += a * b / n;
            s11 += b * b / n;
        }
        let ridge = RIDGE * (s00 + s11) / 2.0 + 1e-9;
        let (s00, s11) = (s00 + ridge, s11 + ridge);
        let x = [1.5f32, -1.0];
        let (c0, c1) = (x[0] as f64 - m0, x[1] as f64 - m1);
        let want0 = (c0 - s01 / s11 * c1).powi(2) / (s00 - s01 * s01 / s11);
        let want1 = (c1 - s01 / s00 * c0).powi(2) / (s11 - s01 * s01 / s00);
        let got = terms(&l, &x);
        assert!(
            (got[0] - want0).abs() < 1e-3 * (1.0 + want0),
            "{got:?} {want0}"
        );
        assert!(
            (got[1] - want1).abs() < 1e-3 * (1.0 + want1),
            "{got:?} {want1}"
        );
    }

    #[test]
    fn a_broken_correlation_is_surprising_and_typical_rows_are_not() {
        let rows = correlated(4000, 5);
        let l = Linear::fit(3, &rows, LINEAR_WEIGHT).unwrap_or_else(|| panic!("fit"));
        // Training mean of each column's term is about 1 (a little less: the ridge).
        let mut mean = [0.0f64; 3];
        for r in rows.chunks_exact(3) {
            for (m, t) in mean.iter_mut().zip(terms(&l, r)) {
                *m += t / 4000.0;
            }
        }
        for m in mean {
            assert!((0.75..1.1).contains(&m), "{mean:?}");
        }
        // Consistent with the correlation (a = 1.5): small; breaking it: large,
        // on the two correlated columns only.
        let ok = terms(&l, &[2.5, 3.0, 0.0]);
        let bad = terms(&l, &[2.5, -3.0, 0.0]);
        assert!(ok[0] < 1.0 && ok[1] < 1.0, "{ok:?}");
        assert!(bad[0] > 20.0 && bad[1] > 20.0, "{bad:?}");
        assert!(bad[2] < 1.0, "{bad:?}");
    }

    #[test]
    fn the_term_is_hinged() {
        let l = Linear::fit(3, &correlated(500, 3), 0.5).unwrap_or_else(|| panic!("fit"));
        assert_eq!(l.term(1.0), 0.0);
        assert_eq!(l.term(-1.4), 0.0);
        assert!((l.term(3.0) - 0.5 * (9.0 - LINEAR_HINGE)).abs() < 1e-12);
        assert!((l.term(-3.0) - l.term(3.0)).abs() < 1e-12);
    }

    #[test]
    fn a_constant_coordinate_gets_no_term() {
        // Categorical columns have coordinate 0 everywhere.
        let rows: Vec<f32> = correlated(500, 2)
            .chunks_exact(3)
            .flat_map(|r| [r[0], 0.0, r[1]])
            .collect();
        let l = Linear::fit(3, &rows, 1.0).unwrap_or_else(|| panic!("fit"));
        let t = terms(&l, &[3.0, 0.0, -4.0]);
        assert!(t[1].abs() < 1e-9, "{t:?}");
        assert!(t[0] > 5.0, "{t:?}");
        assert!(Linear::fit(3, &rows[..3], 1.0).is_none());
    }
}
