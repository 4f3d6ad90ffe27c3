//! Criterion benches of scoring a trained model: one row at a time (the
//! inline SQL path; each row's 16 masks run as one matrix-matrix product)
//! against `score_batch` in a one-thread pool (the top-k and evaluation
//! path), same rows, same model. The two should cost the same per row.
//! A third timing scores the rows one at a time with the kNN term switched
//! off: the difference is what the reference search costs a row.
//!
//! Run: `cargo bench -p ssad-core --bench scoring`

use criterion::{criterion_group, criterion_main, Bencher, Criterion, Throughput};
use ssad_core::rng::Rng;
use ssad_core::{thread_pool, train, ColumnSpec, Model, TrainOptions, Value};

/// Score `rows` one at a time, as inline scoring does, with one scratch.
fn score_each(b: &mut Bencher, model: &Model, rows: &[Vec<Value<'static>>]) {
    let mut s = model.scratch();
    b.iter(|| {
        rows.iter()
            .map(|r| model.score(r, &mut s).unwrap_or(0.0))
            .sum::<f64>()
    })
}

fn table(n: usize, d: usize) -> (Vec<ColumnSpec>, Vec<Vec<Value<'static>>>) {
    let specs = ColumnSpec::numbered("c", d);
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

/// Rows drawn like the generated table of `benches/speed.py`: 16 waves of
/// one index plus uniform noise, at random indices of a 1M-row table, or at
/// consecutive ones (a stretch of that table read in insertion order).
fn wave_table(n: usize, ordered: bool) -> (Vec<ColumnSpec>, Vec<Vec<Value<'static>>>) {
    let specs = ColumnSpec::numbered("c", 16);
    let mut rng = Rng::new(2);
    let index: Vec<f64> = if ordered {
        (0..n).map(|r| 400_001.0 + r as f64).collect()
    } else {
        (0..n)
            .map(|_| (rng.next_f64() * 1e6).floor() + 1.0)
            .collect()
    };
    let rows = index
        .into_iter()
        .map(|i| {
            (0..16)
                .map(|k| {
                    let w = (i * (k + 1) as f64 * 0.001).sin()
                        + (k % 4) as f64 * 0.5 * (i * 0.0007).cos();
                    Value::Num(w + rng.next_f64() * 0.1)
                })
                .collect()
        })
        .collect();
    (specs, rows)
}

fn bench(c: &mut Criterion) {
    bench_table(c, "score 4096 rows x 16 columns", table(4096, 16));
    bench_table(
        c,
        "score 4096 generated rows (speed.py)",
        wave_table(4096, false),
    );
    bench_table(
        c,
        "score 4096 consecutive generated rows",
        wave_table(4096, true),
    );
    // Trained on a default-sized sample (20,000 rows, as training on the
    // generated table samples them), scored on 4,096 other rows: the kNN
    // reference is as large as that table's.
    let (specs, mut rows) = wave_table(20_000 + 4096, false);
    let scored = rows.split_off(20_000);
    bench_model(
        c,
        "score 4096 generated rows, trained on 20000 others",
        &specs,
        &rows,
        scored,
    );
}

fn bench_table(
    c: &mut Criterion,
    name: &str,
    (specs, rows): (Vec<ColumnSpec>, Vec<Vec<Value<'static>>>),
) {
    bench_model(c, name, &specs, &rows, rows.clone());
}

/// The benches of a model trained on `train_rows`, scoring `rows`.
fn bench_model(
    c: &mut Criterion,
    name: &str,
    specs: &[ColumnSpec],
    train_rows: &[Vec<Value<'static>>],
    rows: Vec<Vec<Value<'static>>>,
) {
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let (model, _) = train(
        specs,
        train_rows,
        &TrainOptions {
            epochs: Some(5),
            ..Default::default()
        },
        &pool,
        &mut |_| true,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{name}: {} reference rows, {} model bytes",
        model.reference.n_rows(),
        ssad_core::codec::encode(&model).len()
    );
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.sample_size(10);
    g.bench_function("one row at a time", |b| score_each(b, &model, &rows));
    // The same rows with the kNN term's weight at 0, which skips its search
    // (the scores differ): what the search costs of a row, for the speed
    // notes' account of what bounds inline scoring.
    let mut no_knn = model.clone();
    no_knn.knn_weight = 0.0;
    g.bench_function("one row at a time, kNN term off (its cost)", |b| {
        score_each(b, &no_knn, &rows)
    });
    // A model load as a backend's cache miss does it, after the catalog read:
    // check and parse the bytes, widen the weights, build the kNN index
    // (its frame, blocks and int8 copy, and the timing of the two searches).
    let bytes = ssad_core::codec::encode(&model);
    g.bench_function("decode the model (a cold load)", |b| {
        b.iter(|| {
            ssad_core::codec::decode(&bytes)
                .map(|m| m.n_columns())
                .unwrap_or(0)
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
