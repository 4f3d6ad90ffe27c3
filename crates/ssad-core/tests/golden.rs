//! Golden model bytes of every format: models stored in formats 1 to 7
//! decode and score as the code that wrote them scored them, bit for bit,
//! wherever that score was finite; the rows formats 1 to 5 scored NaN or
//! infinite (values far beyond a column's range) score a finite number.
//!
//! `tests/golden/` holds model bytes and the scores they gave, written by
//! ssad-core at commit 5dcad9e (format 5) through `codec::encode_version`:
//! one table of 300 rows (`x` numeric with NULLs, `small` numeric of spread
//! 0.01, `level` numeric of four levels, `k` categorical with NULLs, `t` a
//! time column of hourly epochs and `t#dow` its day of week), trained with
//! 4 epochs and the other options at their defaults, once with the
//! distilled student (stored in formats 5 to 1) and once without (format 5).
//! `format6_*` are the same table's models in format 6, written at commit
//! 970af11 (`format6_clean` trained with `"clean": true`, the student on: a
//! clean model of the format before the kNN reference's own distances, which
//! must score as it did); `format7_*` in format 7, written by
//! `write_format7_goldens` below (run it with `--ignored` only when format 7
//! itself changes: these files pin how a stored format-7 model scores).
//! `rows.tsv` holds the rows scored (one per line, cells tab-separated:
//! `null`, `n:` and a float8's bits in hex, `t:` and a text): 40 training
//! rows, each number column set in turn to NaN, the infinities, +-1e308,
//! +-f64::MAX, f64::MIN_POSITIVE, -0.0, +-1e300, +-1e15 and 1e6, and rows
//! of NULLs, NaNs, infinities, huge values and an unseen category.
//! `<model>.scores` holds the kernel variant that scored them, then each
//! row's score bits in hex.

use ssad_core::schema::Value;
use ssad_core::{codec, kernels, thread_pool, Model};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The models and the format each one's bytes are in.
const MODELS: [(&str, u16); 11] = [
    ("format7_student", 7),
    ("format7_clean", 7),
    ("format6_clean", 6),
    ("format6_student", 6),
    ("format6_teacher", 6),
    ("format5_student", 5),
    ("format5_teacher", 5),
    ("format4_student", 4),
    ("format3_student", 3),
    ("format2_student", 2),
    ("format1_student", 1),
];

/// Where another kernel variant than the one that wrote the scores runs
/// (another CPU): its sums round differently, so scores agree to this
/// relative tolerance instead of bit for bit.
const OTHER_KERNEL_TOLERANCE: f64 = 1e-4;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn text(name: &str) -> String {
    String::from_utf8(read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s, 16).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The rows of `rows.tsv`.
fn rows() -> Vec<Vec<Value<'static>>> {
    text("rows.tsv")
        .lines()
        .map(|line| {
            line.split('\t')
                .map(|c| match c {
                    "null" => Value::Null,
                    _ if c.starts_with("n:") => Value::Num(f64::from_bits(hex(&c[2..]))),
                    _ if c.starts_with("t:") => Value::Text(Cow::Owned(c[2..].to_string())),
                    _ => panic!("bad cell {c}"),
                })
                .collect()
        })
        .collect()
}

/// The kernel variant that wrote a model's scores, and the scores.
fn scores(name: &str) -> (String, Vec<f64>) {
    let t = text(&format!("{name}.scores"));
    let mut lines = t.lines();
    let kernel = lines
        .next()
        .and_then(|l| l.strip_prefix("kernel "))
        .unwrap_or_else(|| panic!("{name}: no kernel line"));
    let s = lines.map(|l| f64::from_bits(hex(l))).collect();
    (kernel.to_string(), s)
}

fn one_row_scores(m: &Model, rows: &[Vec<Value<'static>>]) -> Vec<f64> {
    let mut s = m.scratch();
    rows.iter()
        .map(|r| m.score(r, &mut s).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn every_format_scores_every_finite_score_as_it_did() {
    let rows = rows();
    let pool = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
    let here = kernels::selected().name;
    for (name, version) in MODELS {
        let bytes = read(&format!("{name}.bin"));
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), version, "{name}");
        let m = codec::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (kernel, want) = scores(name);
        assert_eq!(want.len(), rows.len(), "{name}");
        let one = one_row_scores(&m, &rows);
        let batch = m
            .score_batch(&rows, &pool)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (i, ((&got, &b), &old)) in one.iter().zip(&batch).zip(&want).enumerate() {
            assert_eq!(
                got.to_bits(),
                b.to_bits(),
                "{name} row {i}: one-row vs batch"
            );
            // Rows the old code scored NaN or infinite score a finite number.
            assert!(got.is_finite() && got >= 0.0, "{name} row {i}: {got}");
            if !old.is_finite() {
                continue;
            }
            if kernel == here {
                assert_eq!(
                    got.to_bits(),
                    old.to_bits(),
                    "{name} row {i}: {got} vs {old}"
                );
            } else {
                let tol = OTHER_KERNEL_TOLERANCE * (1.0 + old.abs());
                assert!((got - old).abs() <= tol, "{name} row {i}: {got} vs {old}");
            }
        }
    }
}

/// `ssad_drift` needs nothing a model of an older format lacks: each answers
/// with a row per model column and one for the score, with finite figures,
/// and finds the extreme rows of `rows.tsv` (NaN, infinities, huge values)
/// drifted in every numeric column they fill (the 40 training rows first
/// are a run of consecutive hours, not a sample, so they are only checked
/// to answer).
#[test]
fn older_formats_answer_drift() {
    let rows = rows();
    for (name, _) in MODELS {
        let m =
            codec::decode(&read(&format!("{name}.bin"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = |rows: &[Vec<Value<'static>>]| {
            let packed = ssad_core::Rows::from_rows(m.columns.len(), rows)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut d = ssad_core::drift::Drift::new(&m);
            d.add(&packed, &one_row_scores(&m, rows));
            d.finish()
        };
        let (train, odd) = rows.split_at(40);
        for part in [train, odd] {
            let r = report(part);
            assert_eq!(r.len(), m.columns.len() + 1, "{name}");
            assert!(
                r.iter().all(|c| c.psi.is_finite() && c.psi >= 0.0),
                "{name}: {r:?}"
            );
        }
        for col in ["x", "small"] {
            let c = report(odd)
                .into_iter()
                .find(|c| c.column.as_deref() == Some(col))
                .unwrap_or_else(|| panic!("{name}: no {col}"));
            assert!(c.drifted, "{name}: {c:?}");
        }
    }
}

/// The golden table: 300 rows of the columns of `rows.tsv`.
fn golden_table() -> (Vec<ssad_core::ColumnSpec>, Vec<Vec<Value<'static>>>) {
    use ssad_core::{ColumnKind, ColumnSpec};
    let spec = |name: &str, kind| ColumnSpec {
        name: name.into(),
        kind,
    };
    let specs = vec![
        spec("x", ColumnKind::Numeric),
        spec("small", ColumnKind::Numeric),
        spec("level", ColumnKind::Numeric),
        spec("k", ColumnKind::Categorical),
        spec("t", ColumnKind::Time),
        spec("t#dow", ColumnKind::Categorical),
    ];
    let mut rng = ssad_core::rng::Rng::new(5);
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let rows = (0..300)
        .map(|i| {
            let t = 1_700_000_000.0 + 3600.0 * i as f64;
            let day = days[(i / 24) % 7];
            vec![
                if i % 23 == 0 {
                    Value::Null
                } else {
                    Value::Num(8.0 + 2.0 * rng.normal())
                },
                Value::Num(0.01 * rng.normal()),
                Value::Num((i % 4) as f64),
                if i % 31 == 0 {
                    Value::Null
                } else {
                    Value::Text(Cow::Owned(["a", "b", "c"][i % 3].to_string()))
                },
                Value::Num(t),
                Value::Text(Cow::Owned(day.to_string())),
            ]
        })
        .collect();
    (specs, rows)
}

/// Write `format7_student` and `format7_clean` (bytes and scores) with
/// the current code. Only for a deliberate change of format 7.
#[test]
#[ignore = "writes the golden files of format 7"]
fn write_format7_goldens() {
    let (specs, table) = golden_table();
    let pool = thread_pool(1).unwrap_or_else(|e| panic!("{e}"));
    let rows = rows();
    for (name, clean) in [("format7_student", None), ("format7_clean", Some(true))] {
        let opts = ssad_core::TrainOptions {
            epochs: Some(4),
            clean,
            ..Default::default()
        };
        let (m, _) = ssad_core::train(&specs, &table, &opts, &pool, &mut |_| true)
            .unwrap_or_else(|e| panic!("{e}"));
        let bytes = codec::encode(&m);
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 7);
        std::fs::write(dir().join(format!("{name}.bin")), &bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut out = format!("kernel {}\n", kernels::selected().name);
        for s in one_row_scores(&m, &rows) {
            out.push_str(&format!("{:016x}\n", s.to_bits()));
        }
        std::fs::write(dir().join(format!("{name}.scores")), out).unwrap_or_else(|e| panic!("{e}"));
    }
}
