//! aarch64 NEON kernels (4 lanes), with scalar tails.

use std::arch::aarch64::*;

/// # Safety
/// NEON must be available; `y.len() == x.len()`.
#[target_feature(enable = "neon")]
pub unsafe fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n.
        unsafe {
            let py = y.as_mut_ptr().add(i);
            vst1q_f32(
                py,
                vfmaq_n_f32(vld1q_f32(py), vld1q_f32(x.as_ptr().add(i)), a),
            );
        }
        i += 4;
    }
    for j in i..n {
        y[j] += a * x[j];
    }
}

/// # Safety
/// NEON must be available; `a.len() == b.len()`.
#[target_feature(enable = "neon")]
pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut s = vdupq_n_f32(0.0);
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n.
        unsafe {
            s = vfmaq_f32(
                s,
                vld1q_f32(a.as_ptr().add(i)),
                vld1q_f32(b.as_ptr().add(i)),
            );
        }
        i += 4;
    }
    let mut total = vaddvq_f32(s);
    for j in i..n {
        total += a[j] * b[j];
    }
    total
}
