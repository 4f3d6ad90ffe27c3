//! Dense-layer kernels with runtime CPU dispatch, resolved once per process:
//! AVX-512F, AVX2+FMA, NEON on aarch64, and a scalar fallback, so the shared
//! library runs on any x86-64. Every entry point checks lengths before any
//! unsafe code runs; the SIMD variants are tested against the scalar one.

#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

/// `y += a * x` over equal-length slices.
type AxpyFn = unsafe fn(&mut [f32], f32, &[f32]);
/// `sum(a * b)` over equal-length slices.
type DotFn = unsafe fn(&[f32], &[f32]) -> f32;
/// `y = b + x W` with checked shapes.
type GemvFn = unsafe fn(&mut [f32], &[f32], &[f32], &[f32]);

#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    axpy: AxpyFn,
    dot: DotFn,
    gemv: GemvFn,
}

static SELECTED: OnceLock<Kernels> = OnceLock::new();

pub(crate) fn scalar_kernels() -> Kernels {
    Kernels {
        name: "scalar",
        axpy: scalar::axpy,
        dot: scalar::dot,
        gemv: scalar::gemv,
    }
}

/// Every variant this CPU can run (scalar first): for tests and benchmarks.
pub fn available() -> Vec<Kernels> {
    let mut v = vec![scalar_kernels()];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            v.push(Kernels {
                name: "avx2+fma",
                axpy: x86::axpy_avx2,
                dot: x86::dot_avx2,
                gemv: x86::gemv_avx2,
            });
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push(Kernels {
                name: "avx512f",
                axpy: x86::axpy_avx512,
                dot: x86::dot_avx512,
                gemv: x86::gemv_avx512,
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            v.push(Kernels {
                name: "neon",
                axpy: neon::axpy,
                dot: neon::dot,
                gemv: scalar::gemv,
            });
        }
    }
    v
}

/// The best variant for this CPU, chosen on first use.
pub fn selected() -> Kernels {
    *SELECTED.get_or_init(|| available().pop().unwrap_or_else(scalar_kernels))
}

impl Kernels {
    /// `y += a * x`. Panics (a bug, never user input) if the lengths differ.
    #[inline]
    pub fn axpy(&self, y: &mut [f32], a: f32, x: &[f32]) {
        assert_eq!(y.len(), x.len(), "axpy length mismatch");
        // SAFETY: lengths are equal (checked above) and the variant was
        // selected only if the CPU supports its instructions.
        unsafe { (self.axpy)(y, a, x) }
    }

    /// `sum(a * b)`. Panics (a bug, never user input) if the lengths differ.
    #[inline]
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "dot length mismatch");
        // SAFETY: as for axpy.
        unsafe { (self.dot)(a, b) }
    }

    /// `y = b + x W` for row-major `W` (`x.len()` rows of `y.len()`),
    /// skipping zero inputs (hidden columns, one-hot zeros).
    #[inline]
    pub fn gemv(&self, y: &mut [f32], b: &[f32], w: &[f32], x: &[f32]) {
        let n = y.len();
        assert_eq!(b.len(), n, "gemv bias length");
        assert_eq!(w.len(), x.len() * n, "gemv weight shape");
        // SAFETY: shapes checked above; the variant matches the CPU.
        unsafe { (self.gemv)(y, b, w, x) }
    }
}

/// Peak single-core FMA throughput of this machine in GFLOP/s, measured with
/// independent accumulator chains of the widest available FMA: the yardstick
/// the kernel benchmarks report against.
pub fn fma_peak_gflops(iterations: u64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is present.
            return unsafe { x86::fma_peak_avx512(iterations) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: AVX2 and FMA are present.
            return unsafe { x86::fma_peak_avx2(iterations) };
        }
    }
    scalar::fma_peak(iterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allowed relative difference between a SIMD variant and the scalar
    /// reference: the summation order differs, nothing else.
    const REL_TOL: f32 = 1e-5;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn every_variant_matches_scalar_across_tail_lengths() {
        let reference = scalar_kernels();
        for k in available() {
            // Lengths crossing every tail: below, at and above 4, 8, 16, 32, 64 lanes.
            for n in (0..=70).chain([127, 128, 129, 255, 256, 257, 1000]) {
                let (a, b) = (data(n, 1), data(n, 7));
                let d = k.dot(&a, &b);
                let r = reference.dot(&a, &b);
                let scale = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x * y).abs())
                    .sum::<f32>()
                    .max(1.0);
                assert!(
                    (d - r).abs() <= REL_TOL * scale,
                    "{} dot n={n}: {d} vs {r}",
                    k.name
                );
                let (mut y1, mut y2) = (data(n, 3), data(n, 3));
                k.axpy(&mut y1, 0.37, &a);
                reference.axpy(&mut y2, 0.37, &a);
                for (u, v) in y1.iter().zip(&y2) {
                    assert!(
                        (u - v).abs() <= REL_TOL * (1.0 + v.abs()),
                        "{} axpy n={n}",
                        k.name
                    );
                }
            }
        }
    }

    #[test]
    fn gemv_matches_naive_for_every_variant_and_shape() {
        for k in available() {
            for (n_in, n_out) in [
                (1, 1),
                (3, 7),
                (13, 37),
                (5, 64),
                (9, 65),
                (42, 128),
                (4, 130),
                (2, 200),
            ] {
                gemv_case(k, n_in, n_out);
            }
        }
    }

    fn gemv_case(k: Kernels, n_in: usize, n_out: usize) {
        let w = data(n_in * n_out, 5);
        let mut x = data(n_in, 9);
        if n_in > 3 {
            x[3] = 0.0; // a hidden input is skipped
        }
        let b = data(n_out, 11);
        let mut y = vec![0.0; n_out];
        k.gemv(&mut y, &b, &w, &x);
        for o in 0..n_out {
            let naive: f32 = b[o] + (0..n_in).map(|i| x[i] * w[i * n_out + o]).sum::<f32>();
            assert!(
                (y[o] - naive).abs() < 1e-4 * (1.0 + naive.abs()),
                "{} {n_in}x{n_out} [{o}]",
                k.name
            );
        }
    }

    #[test]
    #[should_panic(expected = "length mismatch")]
    fn mismatched_lengths_never_reach_unsafe_code() {
        selected().dot(&[1.0, 2.0], &[1.0]);
    }
}
