//! A small multilayer perceptron (ReLU hidden layers, linear output) with
//! batch forward/backward for training and an allocation-free one-row
//! forward for scoring. Weights are plain row-major buffers (in x out) on
//! 64-byte lines (`Aligned`), so the codec and the SIMD kernels see simple
//! slices and the kernels' loads never straddle two cache lines.

use crate::aligned::Aligned;
use crate::rng::Rng;
use ndarray::{Array1, Array2, ArrayView2, Axis};

#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    pub n_in: usize,
    pub n_out: usize,
    /// Row-major `n_in x n_out`: row i holds the weights leaving input i
    /// (line-aligned for the kernels' loads).
    pub w: Aligned,
    pub b: Vec<f32>,
}

impl Dense {
    fn new(n_in: usize, n_out: usize, rng: &mut Rng) -> Self {
        // He initialisation for ReLU layers.
        let std = (2.0 / n_in as f64).sqrt();
        let w = (0..n_in * n_out)
            .map(|_| (rng.normal() * std) as f32)
            .collect();
        Dense {
            n_in,
            n_out,
            w,
            b: vec![0.0; n_out],
        }
    }

    fn w_view(&self) -> ArrayView2<'_, f32> {
        // Shape always matches the buffer: both are set together in `new` and the codec checks it.
        ArrayView2::from_shape((self.n_in, self.n_out), &self.w).unwrap_or_else(|_| unreachable!())
    }

    /// y = x W + b for one row, accumulating input rows (skips zero inputs: masked slots).
    #[inline]
    pub fn forward_row(&self, x: &[f32], y: &mut [f32]) {
        crate::kernels::selected().gemv(y, &self.b, &self.w, x);
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    pub layers: Vec<Dense>,
}

/// Gradients of every layer, same shapes as the weights.
pub struct Grads {
    pub w: Vec<Array2<f32>>,
    pub b: Vec<Array1<f32>>,
}

impl Grads {
    pub fn add_assign(&mut self, other: &Grads) {
        for (a, b) in self.w.iter_mut().zip(&other.w) {
            *a += b;
        }
        for (a, b) in self.b.iter_mut().zip(&other.b) {
            *a += b;
        }
    }
}

impl Mlp {
    /// `sizes` = [input, hidden..., output].
    pub fn new(sizes: &[usize], rng: &mut Rng) -> Self {
        let layers = sizes
            .windows(2)
            .map(|w| Dense::new(w[0], w[1], rng))
            .collect();
        Mlp { layers }
    }

    /// Round every weight to the nearest IEEE half-precision value, as the
    /// codec stores them, so the model that is calibrated and scored in
    /// memory is the one that comes back from the catalog. Biases stay f32.
    /// (Measured: the same mean AUROC to 4 decimals on the 22 shared tables.)
    /// A weight beyond half precision's range is clamped to its largest
    /// value, not rounded to infinity: the codec refuses non-finite weights,
    /// so an infinity would make the stored model unreadable.
    pub fn round_weights_to_f16(&mut self) {
        let max = half::f16::MAX.to_f32();
        for l in &mut self.layers {
            for v in l.w.iter_mut() {
                *v = half::f16::from_f32(v.clamp(-max, max)).to_f32();
            }
        }
    }

    pub fn n_in(&self) -> usize {
        self.layers.first().map_or(0, |l| l.n_in)
    }

    pub fn n_out(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    pub fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.n_out).max().unwrap_or(0)
    }

    /// Batch forward keeping every activation (input first, output last).
    pub fn forward_batch(&self, x: Array2<f32>) -> Vec<Array2<f32>> {
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        acts.push(x);
        let last = self.layers.len() - 1;
        for (li, layer) in self.layers.iter().enumerate() {
            let mut z = acts[li].dot(&layer.w_view());
            z += &ArrayView2::from_shape((1, layer.n_out), &layer.b)
                .unwrap_or_else(|_| unreachable!());
            if li != last {
                z.mapv_inplace(|v| v.max(0.0));
            }
            acts.push(z);
        }
        acts
    }

    /// Backward pass from d(loss)/d(output) for the activations of `forward_batch`.
    pub fn backward(&self, acts: &[Array2<f32>], d_out: Array2<f32>) -> Grads {
        let n = self.layers.len();
        let mut gw = Vec::with_capacity(n);
        let mut gb = Vec::with_capacity(n);
        let mut dz = d_out;
        for li in (0..n).rev() {
            let layer = &self.layers[li];
            gw.push(acts[li].t().dot(&dz));
            gb.push(dz.sum_axis(Axis(0)));
            if li > 0 {
                let mut da = dz.dot(&layer.w_view().t());
                // ReLU derivative: the stored activation is post-ReLU.
                ndarray::Zip::from(&mut da)
                    .and(&acts[li])
                    .for_each(|d, &a| {
                        if a <= 0.0 {
                            *d = 0.0
                        }
                    });
                dz = da;
            }
        }
        gw.reverse();
        gb.reverse();
        Grads { w: gw, b: gb }
    }

    /// One-row forward into caller-owned scratch; returns the output slice.
    pub fn forward_row<'s>(&self, x: &[f32], scratch: &'s mut [Vec<f32>; 2]) -> &'s [f32] {
        let last = self.layers.len() - 1;
        let [a, b] = scratch;
        let (mut cur, mut nxt) = (a, b);
        for (li, layer) in self.layers.iter().enumerate() {
            let input: &[f32] = if li == 0 { x } else { &cur[..layer.n_in] };
            let out = &mut nxt[..layer.n_out];
            layer.forward_row(input, out);
            if li != last {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            std::mem::swap(&mut cur, &mut nxt);
        }
        &cur[..self.n_out()]
    }

    /// `forward_row` for `m` rows of `xs` (row-major) at once, each row's
    /// output bit for bit what `forward_row` gives it (`gemv_rows` per layer:
    /// the batch path's matrix products, keeping batch and inline scores equal).
    pub fn forward_rows_exact<'s>(
        &self,
        xs: &[f32],
        m: usize,
        scratch: &'s mut [Vec<f32>; 2],
    ) -> &'s [f32] {
        let last = self.layers.len() - 1;
        let need = m * self.max_width().max(self.n_out());
        for v in scratch.iter_mut() {
            if v.len() < need {
                v.resize(need, 0.0);
            }
        }
        let k = crate::kernels::selected();
        let [a, b] = scratch;
        let (mut cur, mut nxt) = (a, b);
        for (li, layer) in self.layers.iter().enumerate() {
            let out = &mut nxt[..m * layer.n_out];
            let input: &[f32] = if li == 0 { xs } else { &cur[..m * layer.n_in] };
            k.gemv_rows(out, &layer.b, &layer.w, input, m);
            if li != last {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            std::mem::swap(&mut cur, &mut nxt);
        }
        &cur[..m * self.n_out()]
    }

    /// The rest of a forward pass for `m` rows whose first-layer
    /// pre-activations the caller computed (`pre1` is `m x h1`, and is
    /// overwritten): the upper layers run as register-blocked matrix products.
    pub fn forward_rows_from_first<'s>(
        &self,
        pre1: &mut [f32],
        m: usize,
        scratch: &'s mut [Vec<f32>; 2],
    ) -> &'s [f32] {
        let last = self.layers.len() - 1;
        if last == 0 {
            let n = self.n_out();
            scratch[0][..m * n].copy_from_slice(&pre1[..m * n]);
            return &scratch[0][..m * n];
        }
        pre1.iter_mut().for_each(|v| *v = v.max(0.0));
        let k = crate::kernels::selected();
        let [a, b] = scratch;
        let (mut cur, mut nxt) = (a, b);
        for (li, layer) in self.layers.iter().enumerate().skip(1) {
            let out = &mut nxt[..m * layer.n_out];
            let input = if li == 1 { &pre1[..] } else { &cur[..] };
            k.gemm(out, &layer.b, &layer.w, &input[..m * layer.n_in], m);
            if li != last {
                out.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            std::mem::swap(&mut cur, &mut nxt);
        }
        &cur[..m * self.n_out()]
    }
}

const B1: f32 = 0.9;
const B2: f32 = 0.999;
const EPS: f32 = 1e-8;

/// Adam with decoupled weight decay (AdamW).
pub struct Adam {
    m_w: Vec<Vec<f32>>,
    v_w: Vec<Vec<f32>>,
    m_b: Vec<Vec<f32>>,
    v_b: Vec<Vec<f32>>,
    t: i32,
    pub weight_decay: f32,
}

impl Adam {
    pub fn new(net: &Mlp, weight_decay: f32) -> Self {
        let zw = |l: &Dense| vec![0.0; l.w.len()];
        let zb = |l: &Dense| vec![0.0; l.b.len()];
        Adam {
            m_w: net.layers.iter().map(zw).collect(),
            v_w: net.layers.iter().map(zw).collect(),
            m_b: net.layers.iter().map(zb).collect(),
            v_b: net.layers.iter().map(zb).collect(),
            t: 0,
            weight_decay,
        }
    }

    pub fn step(&mut self, net: &mut Mlp, g: &Grads, lr: f32) {
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        let wd = self.weight_decay;
        // Gradients are iterated in logical (row-major) order: a transposed
        // product may be stored column-major, so never read them as raw slices.
        #[allow(clippy::too_many_arguments)]
        fn upd<'g>(
            p: &mut [f32],
            g: impl Iterator<Item = &'g f32>,
            m: &mut [f32],
            v: &mut [f32],
            decay: f32,
            lr: f32,
            c1: f32,
            c2: f32,
        ) {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = B1 * *m + (1.0 - B1) * g;
                *v = B2 * *v + (1.0 - B2) * g * g;
                let mh = *m / c1;
                let vh = *v / c2;
                *p -= lr * (mh / (vh.sqrt() + EPS) + decay * *p);
            }
        }
        for (li, layer) in net.layers.iter_mut().enumerate() {
            upd(
                &mut layer.w,
                g.w[li].iter(),
                &mut self.m_w[li],
                &mut self.v_w[li],
                wd,
                lr,
                c1,
                c2,
            );
            upd(
                &mut layer.b,
                g.b[li].iter(),
                &mut self.m_b[li],
                &mut self.v_b[li],
                0.0,
                lr,
                c1,
                c2,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_forward_matches_batch_forward() {
        let mut rng = Rng::new(5);
        let net = Mlp::new(&[6, 8, 8, 3], &mut rng);
        let x: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        let acts = net.forward_batch(Array2::from_shape_vec((2, 6), x.clone()).unwrap_or_default());
        let mut scratch = [vec![0.0; 8], vec![0.0; 8]];
        for r in 0..2 {
            let y = net
                .forward_row(&x[r * 6..(r + 1) * 6], &mut scratch)
                .to_vec();
            for o in 0..3 {
                assert!((y[o] - acts[3][[r, o]]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn f16_rounding_keeps_weights_finite() {
        let mut net = Mlp::new(&[2, 2], &mut Rng::new(1));
        net.layers[0].w = vec![1e6, -1e9, 0.1, f32::MAX].into();
        net.round_weights_to_f16();
        assert_eq!(net.layers[0].w[0], 65504.0);
        assert_eq!(net.layers[0].w[1], -65504.0);
        assert_eq!(net.layers[0].w[3], 65504.0);
        assert_eq!(net.layers[0].w[2], half::f16::from_f32(0.1).to_f32());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = Rng::new(9);
        let mut net = Mlp::new(&[4, 5, 2], &mut rng);
        let x = Array2::from_shape_vec((3, 4), (0..12).map(|i| (i as f32 * 0.71).cos()).collect())
            .unwrap_or_default();
        // loss = 0.5 * sum(y^2)
        let loss = |net: &Mlp| -> f64 {
            let a = net.forward_batch(x.clone());
            a[2].iter().map(|v| 0.5 * (*v as f64).powi(2)).sum()
        };
        let acts = net.forward_batch(x.clone());
        let g = net.backward(&acts, acts[2].clone());
        let eps = 1e-3f32;
        for (li, idx) in [(0usize, 3usize), (0, 11), (1, 4), (1, 9)] {
            let orig = net.layers[li].w[idx];
            net.layers[li].w[idx] = orig + eps;
            let lp = loss(&net);
            net.layers[li].w[idx] = orig - eps;
            let lm = loss(&net);
            net.layers[li].w[idx] = orig;
            let num = (lp - lm) / (2.0 * eps as f64);
            let ana = g.w[li][[idx / g.w[li].ncols(), idx % g.w[li].ncols()]] as f64;
            assert!(
                (num - ana).abs() < 1e-2 * (1.0 + num.abs()),
                "layer {li} idx {idx}: {num} vs {ana}"
            );
        }
    }

    #[test]
    fn adam_fits_a_linear_map() {
        let mut rng = Rng::new(2);
        let mut net = Mlp::new(&[2, 16, 1], &mut rng);
        let mut opt = Adam::new(&net, 0.0);
        let xs: Vec<f32> = (0..64)
            .flat_map(|i| [(i % 8) as f32 / 8.0, (i / 8) as f32 / 8.0])
            .collect();
        let x = Array2::from_shape_vec((64, 2), xs).unwrap_or_default();
        let target = x.column(0).to_owned() * 2.0 - x.column(1).to_owned();
        let mut last = f32::MAX;
        for _ in 0..2000 {
            let acts = net.forward_batch(x.clone());
            let mut d = acts[2].clone();
            for r in 0..64 {
                d[[r, 0]] = (d[[r, 0]] - target[r]) / 64.0;
            }
            last = d.iter().map(|v| (v * 64.0).powi(2)).sum::<f32>() / 64.0;
            let g = net.backward(&acts, d);
            opt.step(&mut net, &g, 1e-2);
        }
        assert!(last < 1e-3, "{last}");
    }
}
