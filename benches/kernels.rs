//! Criterion benches of the dense-layer kernels, every variant this CPU runs,
//! at several sizes. Each reports GFLOP/s next to the machine's measured FMA
//! peak (one core), printed first: read results as a share of that peak.
//!
//! Run: `cargo bench -p ssad-core --bench kernels`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ssad_core::kernels::{available, fma_peak_gflops, KNN_BLOCK};

fn data(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37) % 101) as f32 / 101.0 - 0.5)
        .collect()
}

fn bench(c: &mut Criterion) {
    let peak = fma_peak_gflops(50_000_000);
    println!("single-core FMA peak measured in this run: {peak:.1} GFLOP/s");
    for k in available() {
        let mut g = c.benchmark_group(format!("dot/{}", k.name));
        for n in [16usize, 64, 256, 1024] {
            let (a, b) = (data(n), data(n));
            g.throughput(Throughput::Elements(2 * n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |bch, _| {
                bch.iter(|| k.dot(black_box(&a), black_box(&b)))
            });
        }
        g.finish();
        // A hidden layer of the model: x (n_in) times W (n_in x n_out).
        let mut g = c.benchmark_group(format!("gemv/{}", k.name));
        for (n_in, n_out) in [
            (42usize, 128usize),
            (128, 128),
            (256, 64),
            (200, 128),
            (48, 64),
            (64, 32),
        ] {
            let (w, x, b) = (data(n_in * n_out), data(n_in), data(n_out));
            let mut y = vec![0.0; n_out];
            g.throughput(Throughput::Elements(2 * (n_in * n_out) as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("{n_in}x{n_out}")),
                &n_in,
                |bch, _| bch.iter(|| k.gemv(black_box(&mut y), &b, &w, black_box(&x))),
            );
        }
        g.finish();
        // The scoring masks of one row through the second layer (16 x h1 x h2),
        // and batches of rows through a layer.
        let mut g = c.benchmark_group(format!("gemm/{}", k.name));
        for (m, n_in, n_out) in [
            (16usize, 128usize, 64usize),
            (16, 64, 16),
            (64, 128, 64),
            (256, 128, 128),
        ] {
            let (w, x, b) = (data(n_in * n_out), data(m * n_in), data(n_out));
            let mut y = vec![0.0; m * n_out];
            g.throughput(Throughput::Elements(2 * (m * n_in * n_out) as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("{m}x{n_in}x{n_out}")),
                &m,
                |bch, _| bch.iter(|| k.gemm(black_box(&mut y), &b, &w, black_box(&x), m)),
            );
        }
        g.finish();
        // The kNN distance kernel over 1024 reference rows (64 blocks) of d
        // columns, no bound (the full arithmetic; the search skips most of it).
        let mut g = c.benchmark_group(format!("block_dists/{}", k.name));
        for d in [3usize, 16, 39] {
            let (blocks, x) = (data(1024 * d), data(d));
            let mut out = vec![0.0; KNN_BLOCK];
            g.throughput(Throughput::Elements(3 * (1024 * d) as u64));
            g.bench_with_input(
                BenchmarkId::from_parameter(format!("1024x{d}")),
                &d,
                |bch, _| {
                    bch.iter(|| {
                        let mut m = 0u32;
                        for b in blocks.chunks_exact(KNN_BLOCK * d) {
                            m ^=
                                k.block_dists(black_box(&mut out), b, black_box(&x), f32::INFINITY);
                        }
                        m
                    })
                },
            );
        }
        g.finish();
    }
    println!("(throughput elements are FLOPs: GElem/s = GFLOP/s; compare with the peak above)");
}

criterion_group!(benches, bench);
criterion_main!(benches);
