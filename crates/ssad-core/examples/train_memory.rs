//! Peak resident memory of a training against the sample's raw bytes and
//! against `memory::estimate`. Rows are made as the extension reads them (in
//! fetches of 10,000 into `Rows`), offered to a `SampleReservoir` as
//! `source::sample_rows` does, and trained on with `train_sample`.
//!
//! ```text
//! cargo run --release -p ssad-core --example train_memory -- ROWS [--real N]
//!     [--double N] [--text N] [--ids N] [--timestamp N] [--sample N] [--threads N]
//! ```
//! `--real`: `real` columns (4 bytes raw; default 200 when no kind is given),
//! `--double`: `double precision`, `--text`: categories (20 values),
//! `--ids`: texts that never repeat (26 bytes), `--timestamp`: timestamps (a
//! time and two categorical model columns). Raw bytes are the SQL types'
//! (real 4, double and timestamp 8, a text its length plus a 1-byte header).
//! Prints the peak (VmHWM of /proc/self/status) after sampling and after
//! training, less the process's before it started.

use ssad_core::memory::{estimate, SampleShape};
use ssad_core::rng::Rng;
use ssad_core::time::{day_value, hour_value};
use ssad_core::train::train_sample;
use ssad_core::{thread_pool, ColumnKind, ColumnSpec, Rows, SampleReservoir, TrainOptions, Value};
use std::borrow::Cow;

const FETCH: usize = 10_000;
const CATEGORIES: usize = 20;

fn status_bytes(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn mb(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

struct Args {
    rows: usize,
    real: usize,
    double: usize,
    text: usize,
    ids: usize,
    timestamp: usize,
    sample: usize,
    threads: usize,
}

fn args() -> Args {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize {
        v.get(i)
            .and_then(|s| s.replace('_', "").parse().ok())
            .unwrap_or_else(|| panic!("a number after {:?}", v.get(i - 1)))
    };
    let mut a = Args {
        rows: 200_000,
        real: 0,
        double: 0,
        text: 0,
        ids: 0,
        timestamp: 0,
        sample: 1_000_000,
        threads: 2,
    };
    let mut i = 0;
    while i < v.len() {
        match v[i].as_str() {
            "--real" => a.real = num(i + 1),
            "--double" => a.double = num(i + 1),
            "--text" => a.text = num(i + 1),
            "--ids" => a.ids = num(i + 1),
            "--timestamp" => a.timestamp = num(i + 1),
            "--sample" => a.sample = num(i + 1),
            "--threads" => a.threads = num(i + 1),
            _ => {
                a.rows = num(i);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if a.real + a.double + a.text + a.ids + a.timestamp == 0 {
        a.real = 200;
    }
    a
}

fn main() {
    let a = args();
    let start = status_bytes("VmHWM:");
    let mut specs = Vec::new();
    let mut add = |prefix: &str, n: usize, kind: ColumnKind| {
        for j in 0..n {
            specs.push(ColumnSpec {
                name: format!("{prefix}{j}"),
                kind,
            });
        }
    };
    add("r", a.real, ColumnKind::Numeric);
    add("d", a.double, ColumnKind::Numeric);
    add("t", a.text, ColumnKind::Categorical);
    add("i", a.ids, ColumnKind::Categorical);
    for j in 0..a.timestamp {
        add(&format!("ts{j}"), 1, ColumnKind::Time);
        add(&format!("ts{j}#hour"), 1, ColumnKind::Categorical);
        add(&format!("ts{j}#dow"), 1, ColumnKind::Categorical);
    }
    let width = specs.len();
    // Numbers: four latent factors mixed per column, with noise.
    let mut gen = Rng::new(7);
    let numbers = a.real + a.double;
    let w: Vec<[f64; 4]> = (0..numbers)
        .map(|_| [gen.normal(), gen.normal(), gen.normal(), gen.normal()])
        .collect();
    let categories: Vec<String> = (0..CATEGORIES)
        .map(|k| format!("category-{k:02}"))
        .collect();
    let mut res = SampleReservoir::new(width, a.sample, 42);
    let mut fetch = Rows::with_capacity(width, FETCH);
    let mut row: Vec<Value<'static>> = Vec::with_capacity(width);
    let mut raw_row_bytes = 0usize;
    let mut made = 0;
    while made < a.rows {
        fetch.clear();
        let k = (a.rows - made).min(FETCH);
        for i in made..made + k {
            row.clear();
            raw_row_bytes = 0;
            let z = [gen.normal(), gen.normal(), gen.normal(), gen.normal()];
            for (j, wj) in w.iter().enumerate() {
                let x = wj.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>() + 0.3 * gen.normal();
                if j < a.real {
                    row.push(Value::Num((x as f32) as f64));
                    raw_row_bytes += 4;
                } else {
                    row.push(Value::Num(100.0 * x + 0.001 * gen.normal()));
                    raw_row_bytes += 8;
                }
            }
            for j in 0..a.text {
                let c = &categories[(gen.below(CATEGORIES as u64) as usize + j) % CATEGORIES];
                raw_row_bytes += c.len() + 1;
                row.push(Value::Text(Cow::Owned(c.clone())));
            }
            for j in 0..a.ids {
                let id = format!("id-{j:03}-{i:012}-{:06}", gen.below(1_000_000));
                raw_row_bytes += id.len() + 1;
                row.push(Value::Text(Cow::Owned(id)));
            }
            for _ in 0..a.timestamp {
                let t = 1_700_000_000.0 + gen.below(90 * 86_400) as f64 + 0.5;
                row.extend([Value::Num(t), hour_value(Some(t)), day_value(Some(t))]);
                raw_row_bytes += 8;
            }
            fetch.push_row(&row).unwrap_or_else(|e| panic!("{e}"));
        }
        for r in 0..fetch.len() {
            res.offer_with(|| fetch.row_values(r))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        made += k;
    }
    drop(fetch);
    let sample = res.into_sample();
    let n = sample.len();
    let sampled = status_bytes("VmHWM:");
    let opts = TrainOptions {
        threads: Some(a.threads as u32),
        ..TrainOptions::default()
    };
    let shape = SampleShape {
        numeric: numbers,
        time: a.timestamp,
        categorical: a.text + a.ids + 2 * a.timestamp,
        narrow: a.real,
        categorical_slots: (a.text + a.ids) * ssad_core::memory::CATEGORY_SLOTS
            + a.timestamp * (26 + 9),
        text_bytes: sample.text_bytes() as f64 / n.max(1) as f64,
        fetch_rows: FETCH,
    };
    let est = estimate(&shape, n, &opts);
    let pool = thread_pool(a.threads).unwrap_or_else(|e| panic!("{e}"));
    let t = std::time::Instant::now();
    let (model, _) = train_sample(&specs, &sample, &opts, &pool, &mut |_| true)
        .unwrap_or_else(|e| panic!("{e}"));
    let secs = t.elapsed().as_secs_f64();
    let peak = status_bytes("VmHWM:");
    let raw = (n * raw_row_bytes) as u64;
    println!(
        "rows {n} cols {width} | raw {:.1} MB | sample {:.1} MB, peak after sampling {:.1} MB | \
         peak {:.1} MB = {:.2} x raw | estimate {:.1} MB (sample {:.1}, per row {:.1}, fixed {:.1}) \
         = {:.2} x peak | train {secs:.1} s | {} model columns",
        mb(raw),
        mb(sample.bytes() as u64),
        mb(sampled - start),
        mb(peak - start),
        (peak - start) as f64 / raw as f64,
        mb(est.total()),
        mb(est.sample),
        mb(est.per_row),
        mb(est.fixed),
        est.total() as f64 / (peak - start) as f64,
        model.columns.len(),
    );
}
