//! Training from the compact sample makes the model, byte for byte, that
//! training from rows of `Value`s made: the digests below are of the bytes
//! commit b622d70 made of the same tables (its `train` on a
//! `Reservoir<Vec<Value>>` sample, as the extension sampled then; model
//! format 6; format 7 adds nothing to a default model but an empty list,
//! `as_format_6`), updated since with each change of the default model's
//! math (the trimmed prediction normaliser, `Guards::trimmed_norm`). A
//! change of the model's math changes them on purpose: update them with it.

use ssad_core::reservoir::Reservoir;
use ssad_core::rng::Rng;
use ssad_core::time::{day_value, hour_value};
use ssad_core::train::train_sample;
use ssad_core::{codec, ColumnKind, ColumnSpec, Model, TrainOptions, Value};
use ssad_core::{thread_pool, train, Rows, SampleReservoir};
use std::borrow::Cow;

fn spec(name: &str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        kind,
    }
}

fn text(s: &str) -> Value<'static> {
    Value::Text(Cow::Owned(s.to_string()))
}

/// A named table: its columns, rows and training options.
struct Table {
    name: &'static str,
    specs: Vec<ColumnSpec>,
    rows: Vec<Vec<Value<'static>>>,
    opts: TrainOptions,
}

fn opts(epochs: u32, sample_size: u64) -> TrainOptions {
    TrainOptions {
        epochs: Some(epochs),
        sample_size: Some(sample_size),
        seed: Some(11),
        threads: Some(1),
        ..Default::default()
    }
}

/// Numbers only: `real`-like (4-byte floats), whole numbers, doubles.
fn numeric(n: usize) -> Table {
    let mut rng = Rng::new(1);
    let rows = (0..n)
        .map(|i| {
            let (a, b) = (rng.normal(), rng.normal());
            vec![
                Value::Num((a as f32) as f64),
                Value::Num(((2.0 * a + 0.3 * b) as f32) as f64),
                Value::Num((i % 17) as f64),
                Value::Num(1000.0 * b + 0.01 * rng.normal()),
                Value::Num((a - b) * 1e-3),
            ]
        })
        .collect();
    Table {
        name: "numeric",
        specs: ColumnSpec::numbered("n", 5),
        rows,
        opts: opts(3, 20_000),
    }
}

/// Categories (a status steering an amount, a rare-valued code, a boolean).
fn categorical(n: usize) -> Table {
    const STATUS: [&str; 5] = ["new", "paid", "shipped", "returned", "lost"];
    let mut rng = Rng::new(2);
    let rows = (0..n)
        .map(|_| {
            let s = (rng.below(16) as usize).min(4);
            let code = rng.below(300);
            vec![
                text(STATUS[s]),
                Value::Num(10.0 * s as f64 + rng.normal()),
                text(&format!("code-{code}")),
                text(if rng.below(3) == 0 { "true" } else { "false" }),
            ]
        })
        .collect();
    Table {
        name: "categorical",
        specs: vec![
            spec("status", ColumnKind::Categorical),
            spec("amount", ColumnKind::Numeric),
            spec("code", ColumnKind::Categorical),
            spec("flag", ColumnKind::Categorical),
        ],
        rows,
        opts: opts(4, 20_000),
    }
}

/// A timestamp (time, hour, weekday) and a number.
fn time(n: usize) -> Table {
    let mut rng = Rng::new(3);
    let monday = 1_795_392_000.0;
    let rows = (0..n)
        .map(|_| {
            let t = monday
                + rng.below(14) as f64 * 86_400.0
                + (8 + rng.below(10)) as f64 * 3600.0
                + rng.below(3600) as f64
                + 0.25;
            vec![
                Value::Num(t),
                hour_value(Some(t)),
                day_value(Some(t)),
                Value::Num(rng.normal() * 5.0 + 50.0),
            ]
        })
        .collect();
    Table {
        name: "time",
        specs: vec![
            spec("at", ColumnKind::Time),
            spec("at#hour", ColumnKind::Categorical),
            spec("at#dow", ColumnKind::Categorical),
            spec("x", ColumnKind::Numeric),
        ],
        rows,
        opts: opts(4, 20_000),
    }
}

/// NULLs in numbers and texts, an all-NULL and a constant column, and a
/// small table (the tail term is fitted).
fn nulls(n: usize) -> Table {
    let mut rng = Rng::new(4);
    let rows = (0..n)
        .map(|i| {
            let a = rng.normal();
            vec![
                if i % 9 == 0 {
                    Value::Null
                } else {
                    Value::Num(a)
                },
                if i % 5 == 0 {
                    Value::Null
                } else {
                    text(if a > 0.0 { "up" } else { "down" })
                },
                Value::Null,
                Value::Num(7.0),
                Value::Num(((a * 3.0 + rng.normal()) as f32) as f64),
            ]
        })
        .collect();
    Table {
        name: "nulls",
        specs: vec![
            spec("a", ColumnKind::Numeric),
            spec("dir", ColumnKind::Categorical),
            spec("empty", ColumnKind::Numeric),
            spec("seven", ColumnKind::Numeric),
            spec("b", ColumnKind::Numeric),
        ],
        rows,
        opts: opts(5, 20_000),
    }
}

/// A table larger than its sample (the reservoir replaces rows).
fn sampled(n: usize) -> Table {
    let mut t = categorical(n);
    t.name = "sampled";
    t.opts.sample_size = Some(1500);
    t.opts.distill = Some(false);
    t
}

fn tables() -> Vec<Table> {
    vec![
        numeric(3000),
        categorical(2500),
        time(2000),
        nulls(300),
        sampled(6000),
    ]
}

/// A default model's bytes in format 6: format 7 only adds, at the end of
/// the payload, the kNN reference rows' own distances, an empty list for a
/// model not trained on rows declared clean (checked here).
fn as_format_6(bytes: &[u8]) -> Vec<u8> {
    assert_eq!(codec::FORMAT_VERSION, 7);
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 7);
    let payload = &bytes[14..bytes.len() - 4];
    let (payload, own) = payload.split_at(payload.len() - 4);
    assert_eq!(own, [0u8; 4], "a default model stores no own distances");
    let mut out = codec::MAGIC.to_vec();
    out.extend_from_slice(&6u16.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// FNV-1a of the model's bytes in format 6.
fn digest(m: &Model) -> u64 {
    as_format_6(&codec::encode(m))
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Model digests (see the module's documentation).
const DIGESTS: [(&str, u64); 5] = [
    ("numeric", 0xf8a7_28eb_3a41_9150),
    ("categorical", 0x4240_2adf_c35a_bebe),
    ("time", 0x1611_3d8d_909a_06ec),
    ("nulls", 0xc27e_44c7_6d4c_e77e),
    ("sampled", 0x4203_d98d_ffe7_be1c),
];

#[test]
fn models_are_the_bytes_they_were() {
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    for (t, (name, want)) in tables().into_iter().zip(DIGESTS) {
        assert_eq!(t.name, name);
        let (cap, seed) = (
            t.opts.sample_size.unwrap_or(0) as usize,
            t.opts.seed.unwrap_or(0),
        );
        // Rows of `Value`s, sampled as the extension sampled at b622d70.
        let mut res = Reservoir::new(cap, seed);
        for r in &t.rows {
            res.offer_with(|| r.clone());
        }
        let (m, _) = train(&t.specs, &res.into_items(), &t.opts, &pool, &mut |_| true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(digest(&m), want, "{name}: train on rows");
        // As the extension samples now: fetches of `Rows` into a `SampleReservoir`.
        let mut res = SampleReservoir::new(t.specs.len(), cap, seed);
        for fetch in t.rows.chunks(700) {
            let rows = Rows::from_rows(t.specs.len(), fetch).unwrap_or_else(|e| panic!("{e}"));
            for r in 0..rows.len() {
                res.offer_with(|| rows.row_values(r))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        let (m, _) = train_sample(&t.specs, res.sample(), &t.opts, &pool, &mut |_| true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(digest(&m), want, "{name}: train_sample on a reservoir");
    }
}
