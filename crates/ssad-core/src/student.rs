//! A small student network distilled from the trained model's prediction term.
//!
//! The score keeps the teacher's formula (`Model::combine` summed over the
//! columns); only the prediction term p, the expensive part (the network run
//! under every stored mask), is replaced by one narrow forward pass. The
//! marginal term (density lookups) and the kNN term (the scan over the stored
//! reference) stay exact.
//!
//! Input: the teacher's value slots (nothing hidden, no mask flags), then per
//! column ln(1 + hinged marginal) and ln(1 + kNN share), both computed for the
//! score anyway. Output: ln(1 + mean_j p_j), the row's mean normalised
//! prediction term.
//!
//! Distilled in `distill`.

use crate::nn::Mlp;

/// Widths of the student's two hidden layers.
pub const HIDDEN: [usize; 2] = [64, 32];
/// Inputs and outputs are clamped here (ln scale), so no row can overflow the network.
const LOG_CAP: f32 = 30.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Student {
    /// ReLU MLP: n_values + 2 d -> 64 -> 32 -> 1.
    pub net: Mlp,
}

impl Student {
    /// Rows scored together by the batch path's student pass.
    pub(crate) const BATCH_ROWS: usize = 8;

    /// Input width for a model with `n_values` value slots and `d` columns.
    pub fn n_in(n_values: usize, d: usize) -> usize {
        n_values + 2 * d
    }

    /// Floating-point operations of one forward pass (2 x multiply-adds).
    pub fn flops_per_row(&self) -> f64 {
        self.net
            .layers
            .iter()
            .map(|l| 2.0 * (l.n_in * l.n_out) as f64)
            .sum()
    }

    /// The row's mean normalised prediction term from the filled input `x`.
    #[inline]
    pub(crate) fn mean_prediction(&self, x: &[f32], hidden: &mut [Vec<f32>; 2]) -> f64 {
        mean_from_output(self.net.forward_row(x, hidden)[0])
    }
}

/// The mean normalised prediction term from the network's output (ln scale).
#[inline]
pub(crate) fn mean_from_output(y: f32) -> f64 {
    (y.clamp(0.0, LOG_CAP) as f64).exp_m1()
}

/// An input term compressed as ln(1 + v) (non-finite or negative: 0), capped.
#[cfg(test)]
fn squash(v: f64) -> f32 {
    crate::kernels::log1p_capped_one(v, LOG_CAP)
}

/// `squash` over a slice, with the selected SIMD variant (the same bits).
#[inline]
pub(crate) fn squash_all(out: &mut [f32], v: &[f64]) {
    crate::kernels::selected().log1p_capped(out, v, LOG_CAP)
}

#[cfg(test)]
mod tests {
    use super::{squash, LOG_CAP};

    #[test]
    fn fast_ln_1p_matches_libm() {
        let mut v = 0.0f64;
        while v < 1e12 {
            let (got, want) = (squash(v) as f64, v.ln_1p().min(LOG_CAP as f64));
            assert!(
                (got - want).abs() <= 1e-6 * want.max(1e-3),
                "{v}: {got} vs {want}"
            );
            v = v * 1.37 + 1e-9;
        }
        assert_eq!(squash(0.0), 0.0);
        assert_eq!(squash(-3.0), 0.0);
        assert_eq!(squash(f64::NAN), 0.0);
        assert_eq!(squash(f64::INFINITY), 0.0);
        assert_eq!(squash(1e300), LOG_CAP);
    }
}
