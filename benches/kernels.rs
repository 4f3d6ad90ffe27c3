//! Criterion benches of the dense-layer kernels, every variant this CPU runs,
//! at several sizes. Each reports GFLOP/s next to the machine's measured FMA
//! peak (one core), printed first: read results as a share of that peak.
//!
//! Run: `cargo bench -p ssad-core --bench kernels`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ssad_core::aligned::Aligned;
use ssad_core::kernels::yardstick::{self, fma_peak_gflops, int8_peak_gops};
use ssad_core::kernels::{
    available, selected, Int8Query, GROUP_BYTES, INT8_LANES, KNN_BLOCK, TILE_GROUP_BYTES,
};
use ssad_core::knn::{KnnScratch, Reference};
use ssad_core::rng::Rng;

fn data(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37) % 101) as f32 / 101.0 - 0.5)
        .collect()
}

/// Weights and reference blocks as the model holds them: line-aligned.
fn lines(n: usize) -> Aligned {
    Aligned::from(data(n))
}

/// A group of `m x n_in x n_out` products `f(y, b, w, x, m)`, in FLOP/s.
fn products(
    c: &mut Criterion,
    group: String,
    shapes: &[(usize, usize, usize)],
    f: impl Fn(&mut [f32], &[f32], &[f32], &[f32], usize),
) {
    let mut g = c.benchmark_group(group);
    for &(m, n_in, n_out) in shapes {
        let (w, x, b) = (lines(n_in * n_out), data(m * n_in), data(n_out));
        let mut y = vec![0.0; m * n_out];
        g.throughput(Throughput::Elements(2 * (m * n_in * n_out) as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{m}x{n_in}x{n_out}")),
            &m,
            |bch, _| bch.iter(|| f(black_box(&mut y), &b, &w, black_box(&x), m)),
        );
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let peak = fma_peak_gflops(50_000_000);
    println!("single-core FMA peak measured in this run: {peak:.1} GFLOP/s");
    // A one-row gemv reads each weight once (2 bytes per FLOP): weights that
    // outgrow L1 (48 KB on the machine measured) are capped by the L2 read
    // rate, measured here on line-aligned buffers of 64 and 128 KB.
    for kb in [64usize, 128] {
        let buf = lines(kb * 256);
        let gbs = yardstick::selected().read_peak_gbs(&buf, 2_000_000 / kb as u64);
        println!(
            "read rate of {kb} KB, one core: {gbs:.0} GB/s (caps a one-row gemv at {:.0} GFLOP/s, {:.0}% of peak)",
            gbs / 2.0,
            gbs / 2.0 / peak * 100.0
        );
    }
    for k in yardstick::available() {
        let mut g = c.benchmark_group(format!("dot/{}", k.name));
        for n in [16usize, 64, 256, 1024] {
            let (a, b) = (data(n), data(n));
            g.throughput(Throughput::Elements(2 * n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, _| {
                bch.iter(|| k.dot(black_box(&a), black_box(&b)))
            });
        }
        g.finish();
    }
    for k in available() {
        // A hidden layer of the model: x (n_in) times W (n_in x n_out).
        let mut g = c.benchmark_group(format!("gemv/{}", k.name));
        for (n_in, n_out) in [
            (42usize, 128usize),
            (128, 128),
            (256, 64),
            (200, 128),
            (48, 64),
            (64, 32),
            // The d x d products of the linear term and the kNN frame.
            (16, 16),
            (39, 39),
        ] {
            let (w, x, b) = (lines(n_in * n_out), data(n_in), data(n_out));
            let mut y = vec![0.0; n_out];
            g.throughput(Throughput::Elements(2 * (n_in * n_out) as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("{n_in}x{n_out}")),
                &n_in,
                |bch, _| bch.iter(|| k.gemv(black_box(&mut y), &b, &w, black_box(&x))),
            );
        }
        g.finish();
        // The batch path's student pass: 8 rows through a layer, each row as
        // the one-row gemv computes it (pairs of rows share weight loads).
        let shapes = [(8usize, 48usize, 64usize), (8, 117, 64), (8, 64, 32)];
        products(
            c,
            format!("gemv_rows/{}", k.name),
            &shapes,
            |y, b, w, x, m| k.gemv_rows(y, b, w, x, m),
        );
        // The scoring masks of one row through the second layer (16 x h1 x h2),
        // and batches of rows through a layer.
        let shapes = [(16, 128, 64), (16, 64, 16), (64, 128, 64), (256, 128, 128)];
        products(c, format!("gemm/{}", k.name), &shapes, |y, b, w, x, m| {
            k.gemm(y, b, w, x, m)
        });
        // The kNN distance kernel over the model's 1024 reference rows (64
        // blocks) of d columns, no bound (the full arithmetic; the search
        // skips most of it): one block per call, and two as the one-row search
        // pairs them. 64 to 160 KB come from L2 per query; 256 rows (16 and
        // 39 KB) stay in L1 and show the arithmetic's own rate.
        let mut g = c.benchmark_group(format!("block_dists/{}", k.name));
        for (n, d) in [
            (1024usize, 3usize),
            (1024, 16),
            (1024, 39),
            (256, 16),
            (256, 39),
        ] {
            let (blocks, x) = (lines(n * d), data(d));
            let mut out = vec![0.0; 2 * KNN_BLOCK];
            g.throughput(Throughput::Elements(3 * (n * d) as u64));
            for pair in [false, true] {
                let name = format!("{}{n}x{d}", if pair { "pair " } else { "" });
                g.bench_function(name, |bch| {
                    bch.iter(|| {
                        let (x, mut m) = (black_box(&x), 0u32);
                        let out = black_box(&mut out);
                        if pair {
                            for two in blocks.chunks_exact(2 * KNN_BLOCK * d) {
                                let (a, b) = two.split_at(KNN_BLOCK * d);
                                m ^= k.block_dists2(out, a, b, x, f32::INFINITY);
                            }
                        } else {
                            for b in blocks.chunks_exact(KNN_BLOCK * d) {
                                m ^= k.block_dists(&mut out[..KNN_BLOCK], b, x, f32::INFINITY);
                            }
                        }
                        m
                    })
                });
            }
        }
        g.finish();
        // The batch search's bound kernel: 32 queries against 1024 reference
        // rows of d columns (one multiply-add per value).
        let mut g = c.benchmark_group(format!("block_mins/{}", k.name));
        for d in [3usize, 16, 39] {
            let (blocks, norms, q) = (lines(1024 * d), data(1024), data(32 * d));
            let mut mins = vec![0.0; 32 * 64];
            g.throughput(Throughput::Elements(2 * (32 * 1024 * d) as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("32x1024x{d}")),
                &d,
                |bch, _| {
                    bch.iter(|| {
                        k.block_mins(black_box(&mut mins), &blocks, &norms, black_box(&q), 32)
                    })
                },
            );
        }
        g.finish();
    }
    int8_bounds(c);
    knn_search(c);
    println!("(throughput elements are FLOPs: GElem/s = GFLOP/s; compare with the peak above)");
}

/// The one-row search's int8 bound pass: one query against the int8 copy of
/// 1,024 reference rows of d columns (d rounded up to groups of 4), in int8
/// multiply-adds x 2 per second, next to the VNNI peak measured here.
fn int8_bounds(c: &mut Criterion) {
    match int8_peak_gops(50_000_000) {
        Some(p) => println!("single-core int8 (VNNI) peak measured in this run: {p:.1} GOP/s"),
        None => println!("no VNNI on this CPU: the int8 bounds run the portable body"),
    }
    for k in available() {
        let mut g = c.benchmark_group(format!("block_bounds_i8/{}", k.name));
        for d in [3usize, 16, 39] {
            let width = d.next_multiple_of(4);
            let nsb = 1024 / KNN_BLOCK / INT8_LANES;
            let rows: Vec<i8> = (0..nsb * (width / 4) * KNN_BLOCK * GROUP_BYTES)
                .map(|i| ((i * 37) % 255) as i8)
                .collect();
            let cc: Vec<i32> = (0..nsb * KNN_BLOCK * INT8_LANES)
                .map(|i| i as i32)
                .collect();
            let err = vec![0.01f32; nsb * INT8_LANES];
            let u: Vec<u8> = (0..width).map(|i| (i * 29 % 256) as u8).collect();
            let mut bounds = vec![0.0f32; nsb * INT8_LANES];
            g.throughput(Throughput::Elements(2 * (1024 * width) as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("1x1024x{d}")),
                &d,
                |bch, _| {
                    bch.iter(|| {
                        let q = Int8Query {
                            u: black_box(&u),
                            qn: 100,
                            step: 0.05,
                            err: 0.02,
                        };
                        k.block_bounds_i8(black_box(&mut bounds), &rows, &cc, &err, q)
                    })
                },
            );
        }
        g.finish();
        // The batch search's int8 pass: 32 queries against the same rows
        // laid out block by block (the int8 counterpart of `block_mins`).
        let mut g = c.benchmark_group(format!("block_mins_i8/{}", k.name));
        for d in [3usize, 16, 39] {
            let width = d.next_multiple_of(4);
            let nb = 1024 / KNN_BLOCK;
            let rows: Vec<i8> = (0..nb * (width / 4) * TILE_GROUP_BYTES)
                .map(|i| ((i * 37) % 255) as i8)
                .collect();
            let cc: Vec<i32> = (0..nb * KNN_BLOCK).map(|i| i as i32).collect();
            let u: Vec<u8> = (0..32 * width).map(|i| (i * 29 % 256) as u8).collect();
            let mut mins = vec![0i32; 32 * nb];
            g.throughput(Throughput::Elements(2 * (32 * 1024 * width) as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("32x1024x{d}")),
                &d,
                |bch, _| {
                    bch.iter(|| {
                        k.block_mins_i8(black_box(&mut mins), &rows, &cc, black_box(&u), 32)
                    })
                },
            );
        }
        g.finish();
    }
}

/// Rows like speed.py's generated table (16 waves of one index plus noise),
/// or like celeba (39 correlated bits).
fn knn_rows(n: usize, kind: &str, rng: &mut Rng) -> (usize, Vec<f32>) {
    let mut v = Vec::new();
    let d = if kind == "waves" { 16 } else { 39 };
    for _ in 0..n {
        let i = (rng.next_f64() * 1e6).floor() + 1.0;
        let t = rng.next_f64();
        for k in 0..d {
            v.push(if kind == "waves" {
                ((i * (k + 1) as f64 * 0.001).sin()
                    + (k % 4) as f64 * 0.5 * (i * 0.0007).cos()
                    + rng.next_f64() * 0.1) as f32
            } else {
                // Bits driven by one latent value per row, each with its own threshold.
                ((t + 0.3 * rng.next_f64()) > (k as f64 + 1.0) / (d as f64 + 1.0)) as u8 as f32
            });
        }
    }
    (d, v)
}

/// The exact kNN search of the kNN term, one row at a time (principal-axis
/// frame, gap bounds, early exit) and for 512 rows at once (block bounds for
/// tiles of rows), against the full scan of the same 1,024 reference rows with
/// the same kernel, in the same run: rows per second of each.
fn knn_search(c: &mut Criterion) {
    let kern = selected();
    for kind in ["waves", "bits"] {
        let mut rng = Rng::new(9);
        let (d, rows) = knn_rows(1024, kind, &mut rng);
        let (_, queries) = knn_rows(512, kind, &mut rng);
        let reference = Reference::new(d, rows.clone());
        // The full scan's layout: blocks of KNN_BLOCK rows, dimension-major.
        let mut blocks = Aligned::zeros(1024 * d);
        for (i, r) in rows.chunks_exact(d).enumerate() {
            for (j, &v) in r.iter().enumerate() {
                blocks[((i / KNN_BLOCK) * d + j) * KNN_BLOCK + i % KNN_BLOCK] = v;
            }
        }
        let mut g = c.benchmark_group(format!("knn search/1024x{d} {kind}/{}", kern.name));
        g.throughput(Throughput::Elements(512));
        g.bench_function("exact search", |b| {
            let (mut s, mut cols) = (KnnScratch::default(), vec![0.0f64; d]);
            b.iter(|| {
                queries
                    .chunks_exact(d)
                    .map(|q| reference.distance(q, &mut s, &mut cols))
                    .sum::<f64>()
            })
        });
        g.bench_function("batch search", |b| {
            let mut s = KnnScratch::default();
            let (mut cols, mut dists) = (vec![0.0f64; 512 * d], vec![0.0f64; 512]);
            b.iter(|| {
                reference.distance_batch(black_box(&queries), &mut s, &mut cols, &mut dists);
                dists.iter().sum::<f64>()
            })
        });
        g.bench_function("full scan", |b| {
            let mut out = vec![0.0f32; KNN_BLOCK];
            b.iter(|| {
                let mut acc = 0.0f32;
                for q in queries.chunks_exact(d) {
                    for blk in blocks.chunks_exact(KNN_BLOCK * d) {
                        kern.block_dists(&mut out, blk, black_box(q), f32::INFINITY);
                        acc += out[0];
                    }
                }
                acc
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
