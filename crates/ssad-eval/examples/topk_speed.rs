//! The top-k scan's scoring without Postgres: trains a default model on a
//! shared table as `ssad_train` would (a seeded 20,000-row reservoir), then
//! scores every row through `batch::Pipeline` in fetches of 10,000 rows, as
//! `ssad_top_anomalies` feeds it, with and without the scan's memo of
//! scored rows. Prints the best of a few runs, and the sum of the scores
//! (the same bits either way).
//!
//! Run: `cargo run --release -p ssad-eval --example topk_speed --
//! ../shared/datasets/adbench/celeba.csv.gz [threads] [memo bytes]`

use flate2::read::GzDecoder;
use ssad_core::batch::Pipeline;
use ssad_core::reservoir::Reservoir;
use ssad_core::train::DEFAULT_SAMPLE_SIZE;
use ssad_core::{thread_pool, train, ColumnSpec, Model, Rows, TrainOptions, Value};
use std::sync::Arc;
use std::time::Instant;

/// Rows `ssad_top_anomalies` fetches at a time.
const FETCH: usize = 10_000;
const RUNS: usize = 7;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: topk_speed TABLE.csv.gz [threads] [memo bytes]")?;
    let number = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i)
            .map_or(Ok(default), |s| s.parse().map_err(|e| format!("{s}: {e}")))
    };
    let (threads, memo) = (number(2, 2)?, number(3, 128 << 20)?);
    let rows = load(path)?;
    let width = rows.first().map_or(0, Vec::len);
    let mut res = Reservoir::new(
        DEFAULT_SAMPLE_SIZE as usize,
        ssad_core::options::DEFAULT_SEED,
    );
    (0..rows.len()).for_each(|i| res.offer(i));
    let mut idx = res.into_items();
    idx.sort_unstable();
    let sample: Vec<_> = idx.iter().map(|&i| rows[i].clone()).collect();
    let specs = ColumnSpec::numbered("f", width);
    let pool = thread_pool(1).map_err(|e| e.to_string())?;
    let (model, _) = train(
        &specs,
        &sample,
        &TrainOptions::default(),
        &pool,
        &mut |_| true,
    )
    .map_err(|e| e.to_string())?;
    // In the model's column order (constant columns are dropped).
    let keep: Vec<usize> = model
        .columns
        .iter()
        .filter_map(|c| specs.iter().position(|s| s.name == c.name))
        .collect();
    let rows: Vec<Vec<Value<'static>>> = rows
        .iter()
        .map(|r| keep.iter().map(|&c| r[c].clone()).collect())
        .collect();
    let model = Arc::new(model);
    for bytes in [0, memo] {
        let (mut best, mut sum) = (f64::INFINITY, 0.0);
        for _ in 0..RUNS {
            let t0 = Instant::now();
            sum = scan(&model, &rows, threads, bytes)?;
            best = best.min(t0.elapsed().as_secs_f64());
        }
        println!(
            "{} rows, {threads} threads, memo of {bytes} bytes: best of {RUNS} {:.1} ms ({:.0} rows/s), score sum {sum:.6}",
            rows.len(),
            best * 1e3,
            rows.len() as f64 / best
        );
    }
    Ok(())
}

/// Every row through a pipeline, as a top-k scan feeds it: the sum of the scores.
fn scan(
    model: &Arc<Model>,
    rows: &[Vec<Value<'static>>],
    threads: usize,
    memo: usize,
) -> Result<f64, String> {
    let pool = thread_pool(threads).map_err(|e| e.to_string())?;
    let width = rows.first().map_or(0, Vec::len);
    let mut pipe = Pipeline::new(Arc::clone(model), pool).with_memo(width, memo);
    let mut done = Vec::new();
    for (i, chunk) in rows.chunks(FETCH).enumerate() {
        let batch = Rows::from_rows(width, chunk).map_err(|e| e.to_string())?;
        done.extend(pipe.submit(i, batch));
    }
    done.extend(pipe.finish());
    let mut sum = 0.0;
    for (_, _, scores) in done {
        sum += scores.map_err(|e| e.to_string())?.iter().sum::<f64>();
    }
    Ok(sum)
}

/// A shared table's features (every column but `is_anomaly`), as numbers.
fn load(path: &str) -> Result<Vec<Vec<Value<'static>>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut rdr = csv::Reader::from_reader(GzDecoder::new(file));
    let header = rdr.headers().map_err(|e| e.to_string())?.clone();
    let label = header.iter().position(|h| h == "is_anomaly");
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        rows.push(
            rec.iter()
                .enumerate()
                .filter(|&(c, _)| Some(c) != label)
                .map(|(_, v)| v.trim().parse::<f64>().map_or(Value::Null, Value::Num))
                .collect(),
        );
    }
    Ok(rows)
}
