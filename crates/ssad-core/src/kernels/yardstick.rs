//! Benchmark yardsticks, kept out of the production dispatch table
//! (`Kernels`): each variant's plain dot product (the simplest kernel, timed
//! against the FMA peak) and read rate, and this core's FMA and int8 peaks.
//! The kernel benches report against them; scoring never calls them.

#[cfg(target_arch = "aarch64")]
use super::neon;
use super::scalar;
#[cfg(target_arch = "x86_64")]
use super::x86;

/// `sum(a * b)` over equal lengths.
type DotFn = unsafe fn(&[f32], &[f32]) -> f32;
/// Read rate of a buffer in GB/s over a number of passes.
type ReadPeakFn = unsafe fn(&[f32], u64) -> f64;

/// One SIMD variant's yardsticks.
#[derive(Clone, Copy)]
pub struct Yardstick {
    pub name: &'static str,
    dot: DotFn,
    read_peak: ReadPeakFn,
}

/// Every variant this CPU can run, scalar first, as `kernels::available`.
pub fn available() -> Vec<Yardstick> {
    let mut v = vec![Yardstick {
        name: "scalar",
        dot: scalar::dot,
        read_peak: scalar::read_peak,
    }];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            v.push(Yardstick {
                name: "avx2+fma",
                dot: x86::dot_avx2,
                read_peak: x86::read_peak_avx2,
            });
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push(Yardstick {
                name: "avx512f",
                dot: x86::dot_avx512,
                read_peak: x86::read_peak_avx512,
            });
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            v.push(Yardstick {
                name: "neon",
                dot: neon::dot,
                read_peak: neon::read_peak,
            });
        }
    }
    v
}

/// The best variant for this CPU (the one `kernels::selected` scores with).
pub fn selected() -> Yardstick {
    let mut v = available();
    let best = v.len() - 1;
    v.swap_remove(best)
}

impl Yardstick {
    /// `sum(a * b)`. Panics if the lengths differ.
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len(), "dot length mismatch");
        // SAFETY: lengths are equal; the variant matches the CPU.
        unsafe { (self.dot)(a, b) }
    }

    /// Rate at which one core reads `buf` with this variant's loads, in
    /// GB/s: the yardstick of a one-row gemv, which reads each weight once (2
    /// bytes per FLOP), so weights that outgrow L1 cap it at the L2 read rate.
    pub fn read_peak_gbs(&self, buf: &[f32], iterations: u64) -> f64 {
        // SAFETY: reads within `buf` only; the variant matches the CPU.
        unsafe { (self.read_peak)(buf, iterations) }
    }
}

/// Peak single-core int8 multiply-add throughput in GOP/s (2 a byte pair),
/// where VNNI is present: the yardstick of the int8 bound kernel.
pub fn int8_peak_gops(iterations: u64) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni")
        {
            // SAFETY: AVX-512F and VNNI are present.
            return Some(unsafe { x86::dot_peak_vnni(iterations) });
        }
    }
    let _ = iterations;
    None
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
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            // SAFETY: NEON is present.
            return unsafe { neon::fma_peak(iterations) };
        }
    }
    scalar::fma_peak(iterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn every_dot_matches_scalar_across_tail_lengths() {
        let reference = available()[0];
        for k in available() {
            // Lengths crossing every tail: below, at and above 4, 8, 16, 32, 64 lanes.
            for n in (0..=70).chain([127, 128, 129, 255, 256, 257, 1000]) {
                let (a, b) = (data(n, 1), data(n, 7));
                let (d, r) = (k.dot(&a, &b), reference.dot(&a, &b));
                let scale = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x * y).abs())
                    .sum::<f32>()
                    .max(1.0);
                assert!(
                    (d - r).abs() <= 1e-5 * scale,
                    "{} dot n={n}: {d} vs {r}",
                    k.name
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "length mismatch")]
    fn mismatched_lengths_never_reach_unsafe_code() {
        selected().dot(&[1.0, 2.0], &[1.0]);
    }

    #[test]
    fn yardsticks_measure_something() {
        // Any length: a buffer shorter than one run reads nothing and says 0.
        for k in available() {
            for len in [0usize, 7, 1000, 4096] {
                let buf = crate::aligned::Aligned::zeros(len);
                let gbs = k.read_peak_gbs(&buf, 20);
                assert!(gbs.is_finite() && gbs >= 0.0, "{} {len}: {gbs}", k.name);
                if len >= 1000 {
                    assert!(gbs > 0.0, "{} {len}: {gbs}", k.name);
                }
            }
        }
        let peak = fma_peak_gflops(10_000);
        assert!(peak.is_finite() && peak > 0.0);
    }
}
