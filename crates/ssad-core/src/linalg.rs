//! Small dense linear algebra shared by the model (the linear term, the kNN
//! frame) and the evaluation harness.

/// Eigenvalues and eigenvectors (as the columns of a row-major `d x d`
/// matrix) of the symmetric `d x d` matrix `a` (row-major), by cyclic Jacobi
/// rotations until the off-diagonal mass is 1e-24 of the whole. A product of
/// plane rotations, so the vectors are orthonormal to rounding; unsorted.
pub fn symmetric_eigen(mut a: Vec<f64>, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..60 {
        let off: f64 = (0..d)
            .flat_map(|p| (0..d).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * d + q] * a[p * d + q])
            .sum();
        if off <= 1e-24 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// The mean of each column `cols[a]` of the row-major `rows` (`d` columns
/// a row), each value divided by the row count as it is added.
pub fn column_means(rows: &[f32], d: usize, cols: &[usize]) -> Vec<f64> {
    let n = (rows.len() / d.max(1)) as f64;
    let mut mean = vec![0.0f64; cols.len()];
    for r in rows.chunks_exact(d) {
        for (mu, &j) in mean.iter_mut().zip(cols) {
            *mu += r[j] as f64 / n;
        }
    }
    mean
}

/// The symmetric `m x m` matrix (`m = cols.len()`, row-major) of the sums
/// over rows of `first(c_a) * c_b`, where `c` are a row's columns `cols`
/// centred on `mean`: the scatter matrix with `first` the identity, the
/// covariance with `first` dividing by the row count. The upper triangle is
/// summed (products whose first factor is 0 skipped) and mirrored.
pub fn centred_products(
    rows: &[f32],
    d: usize,
    cols: &[usize],
    mean: &[f64],
    first: impl Fn(f64) -> f64,
) -> Vec<f64> {
    let m = cols.len();
    let mut out = vec![0.0f64; m * m];
    // A row's centred columns gathered once: contiguous slices the compiler
    // vectorises, where an indirect index per product did not.
    let mut c = vec![0.0f64; m];
    for r in rows.chunks_exact(d) {
        for (cb, (&j, &mu)) in c.iter_mut().zip(cols.iter().zip(mean)) {
            *cb = r[j] as f64 - mu;
        }
        for (a, &ca) in c.iter().enumerate() {
            let fa = first(ca);
            if fa != 0.0 {
                for (acc, &cb) in out[a * m + a..(a + 1) * m].iter_mut().zip(&c[a..]) {
                    *acc += fa * cb;
                }
            }
        }
    }
    for a in 0..m {
        for b in 0..a {
            out[a * m + b] = out[b * m + a];
        }
    }
    out
}
