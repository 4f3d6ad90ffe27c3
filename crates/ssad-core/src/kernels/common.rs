//! What every kernel variant shares: the kNN block size, the scalar bodies
//! some variants compile under their own target features (the same bits on
//! every CPU), and the timing of the read-rate yardsticks.

/// Reference rows per block of the kNN distance kernel.
pub const KNN_BLOCK: usize = 16;

/// The body every `sq_diff_add` variant compiles (its own vector width).
#[inline(always)]
pub fn sq_diff_add_body(cols: &mut [f64], r: &[f32], x: &[f32], w: f64) {
    for ((c, &a), &b) in cols.iter_mut().zip(r).zip(x) {
        let t = (a - b) as f64;
        *c += t * t * w;
    }
}

/// ln(1 + v) capped at `cap`, for one value: 0 where v is NaN, infinite or
/// not positive. Inline branch-free arithmetic instead of a libm call, to
/// within 1e-10 absolute before the f32 rounding (below ~1e-6 the rounding of
/// 1 + v costs relative accuracy, never absolute). Every variant of
/// `log1p_capped` runs this body lane by lane (vectorised by the compiler
/// under its target features, never contracted into FMAs): the same bits on
/// every CPU.
#[inline(always)]
pub fn log1p_capped_one(v: f64, cap: f32) -> f32 {
    let v = if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let y = 1.0 + v;
    let bits = y.to_bits();
    let m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    // Mantissa into [sqrt(1/2), sqrt(2)]: a select, not a branch.
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    // The exponent as a float without an integer conversion (which AVX2 lacks
    // for 64-bit lanes): 2^52 + e' read as a double is exact.
    let e = f64::from_bits((1075u64 << 52) | (bits >> 52)) - 4_503_599_627_370_496.0 - 1023.0
        + if big { 1.0 } else { 0.0 };
    // ln m = 2 atanh(s), |s| <= 0.172: the series to s^11 leaves < 2e-11.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let poly =
        1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 / 11.0))));
    ((e * std::f64::consts::LN_2 + 2.0 * s * poly) as f32).min(cap)
}

/// `units_per_pass * iterations / seconds / 1e9` for `iterations` calls of
/// `pass`: the timing shared by the read-rate variants (each `pass` is its
/// variant's loop, compiled with its target features).
pub fn giga_rate(iterations: u64, units_per_pass: u64, mut pass: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        pass();
    }
    // A clock that did not tick reads as 1 ns, not a division by zero.
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    (iterations * units_per_pass) as f64 / secs / 1e9
}
