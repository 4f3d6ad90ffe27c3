//! Criterion benches of scoring a trained model: one row at a time (the
//! inline SQL path; each row's 16 masks run as one matrix-matrix product)
//! against `score_batch` in a one-thread pool (the top-k and evaluation
//! path), same rows, same model. The two should cost the same per row.
//!
//! Run: `cargo bench -p ssad-core --bench scoring`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ssad_core::rng::Rng;
use ssad_core::{thread_pool, train, ColumnKind, ColumnSpec, TrainOptions, Value};

fn table(n: usize, d: usize) -> (Vec<ColumnSpec>, Vec<Vec<Value<'static>>>) {
    let specs = (0..d)
        .map(|j| ColumnSpec {
            name: format!("c{j}"),
            kind: ColumnKind::Numeric,
        })
        .collect();
    let mut rng = Rng::new(1);
    let rows = (0..n)
        .map(|_| {
            let (a, b) = (rng.normal(), rng.normal());
            (0..d)
                .map(|j| {
                    Value::Num(
                        a * (j as f64 + 1.0).sin() + b * (j as f64).cos() + 0.1 * rng.normal(),
                    )
                })
                .collect()
        })
        .collect();
    (specs, rows)
}

fn bench(c: &mut Criterion) {
    let (specs, rows) = table(4096, 16);
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let (model, _) = train(
        &specs,
        &rows,
        &TrainOptions {
            epochs: Some(5),
            ..Default::default()
        },
        &pool,
        &mut |_| true,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut g = c.benchmark_group("score 4096 rows x 16 columns");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(10);
    g.bench_function("one row at a time", |b| {
        let mut s = model.scratch();
        b.iter(|| {
            rows.iter()
                .map(|r| model.score(r, &mut s).unwrap_or(0.0))
                .sum::<f64>()
        })
    });
    g.bench_function("score_batch, one-thread pool", |b| {
        b.iter(|| {
            model
                .score_batch(&rows, &pool)
                .map(|v| v.iter().sum::<f64>())
                .unwrap_or(0.0)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
