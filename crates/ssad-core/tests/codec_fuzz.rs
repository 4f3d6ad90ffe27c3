//! The codec against mutations of real model bytes (a fixed seed): a few
//! small trained models (numeric, categorical and time columns, with and
//! without NULLs and NaNs, the small-table tail term, the distilled student
//! on and off, one trained on rows declared clean, whose reference keeps
//! its own distances) have their bytes flipped, their length and count fields
//! overwritten with huge or zero values, their scalars with NaN and
//! infinities, their version changed, and their bytes cut at every section
//! boundary and at random points, or ranges of them removed or repeated.
//! Each mutation is decoded as it is (the checksum refuses most) and again
//! with its header length and trailing CRC-32 recomputed, so the decoder's
//! own checks are exercised. Decoding never panics and never asks for a
//! huge allocation (a global allocator records the largest request), and
//! every model that decodes scores a set of rows (ordinary, NULL, NaN,
//! +-inf, huge values, unseen categories) to finite numbers through the
//! one-row and the batch path alike, explains and embeds them.

use ssad_core::rng::Rng;
use ssad_core::schema::Value;
use ssad_core::{codec, thread_pool, train, ColumnKind, ColumnSpec, Model, TrainOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest single allocation requested so far (bytes).
static LARGEST: AtomicUsize = AtomicUsize::new(0);

struct Recording;

// SAFETY: forwards to the system allocator, recording request sizes.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Recording = Recording;

/// The most one allocation may ask for while decoding and scoring a
/// mutated model of a few tens of kilobytes.
const MAX_ALLOCATION: usize = 16 << 20;

const HEADER: usize = 8 + 2 + 4;

fn spec(name: &str, kind: ColumnKind) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        kind,
    }
}

fn text(s: &'static str) -> Value<'static> {
    Value::Text(Cow::Borrowed(s))
}

/// A small table: `kinds` says which columns it has; NULLs and NaNs where asked.
fn table(
    n: usize,
    kinds: &[ColumnKind],
    nulls: bool,
    seed: u64,
) -> (Vec<ColumnSpec>, Vec<Vec<Value<'static>>>) {
    let specs: Vec<ColumnSpec> = kinds
        .iter()
        .enumerate()
        .map(|(j, &k)| spec(&format!("c{j}"), k))
        .collect();
    let mut rng = Rng::new(seed);
    let rows = (0..n)
        .map(|i| {
            let a = rng.normal();
            kinds
                .iter()
                .enumerate()
                .map(|(j, &k)| {
                    if nulls && (i + j) % 11 == 0 {
                        return Value::Null;
                    }
                    match k {
                        ColumnKind::Numeric if nulls && (i + j) % 13 == 0 => Value::Num(f64::NAN),
                        ColumnKind::Numeric => Value::Num(a * (j as f64 + 1.0) + rng.normal()),
                        ColumnKind::Time => Value::Num(1.7e9 + i as f64 * 3600.0),
                        ColumnKind::Categorical => {
                            text(["a", "b", "c", "d"][(a.abs() * 2.0) as usize % 4])
                        }
                    }
                })
                .collect()
        })
        .collect();
    (specs, rows)
}

/// Rows every decoded model scores: two ordinary ones and one for each odd
/// value in every column.
fn probes(kinds: &[ColumnKind], rows: &[Vec<Value<'static>>]) -> Vec<Vec<Value<'static>>> {
    let mut out = vec![rows[1].clone(), rows[2].clone()];
    let odd = [
        Value::Null,
        Value::Num(f64::NAN),
        Value::Num(f64::INFINITY),
        Value::Num(f64::NEG_INFINITY),
        Value::Num(1e308),
        Value::Num(-1e308),
    ];
    for v in odd {
        out.push(
            kinds
                .iter()
                .map(|k| match (k, &v) {
                    (ColumnKind::Categorical, Value::Null) => Value::Null,
                    (ColumnKind::Categorical, _) => text("never seen"),
                    _ => v.clone(),
                })
                .collect(),
        );
    }
    out
}

/// What a field of the format holds, for the mutations aimed at it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field {
    /// A u32 length or count.
    Len,
    /// A mask's u16 length.
    Len16,
    /// A u8 kind, flag or encoding.
    Flag,
    Count64,
    F64,
    F32,
}

/// Walks a payload of format `version` as the codec documents it, listing
/// each field's offset (within the payload) and kind, and the offsets where
/// sections start. An independent reading of the format: the walk of
/// unmutated bytes must end exactly at the payload's end.
struct Walk<'a> {
    b: &'a [u8],
    at: usize,
    fields: Vec<(usize, Field)>,
    sections: Vec<usize>,
}

impl Walk<'_> {
    fn field(&mut self, f: Field, size: usize) -> u64 {
        self.fields.push((self.at, f));
        let mut v = [0u8; 8];
        v[..size].copy_from_slice(&self.b[self.at..self.at + size]);
        self.at += size;
        u64::from_le_bytes(v)
    }
    fn len(&mut self) -> usize {
        self.field(Field::Len, 4) as usize
    }
    fn flag(&mut self) -> u8 {
        self.field(Field::Flag, 1) as u8
    }
    fn skip(&mut self, n: usize) {
        self.at += n;
    }
    fn section(&mut self) {
        self.sections.push(self.at);
    }
    /// A vector of `size`-byte items after its length; scalars of `elem`
    /// (the first few of them) listed as fields.
    fn vec(&mut self, size: usize, elem: Option<Field>) {
        let n = self.len();
        for i in 0..n {
            match elem {
                Some(f) if i < 3 => {
                    self.field(f, size);
                }
                _ => self.skip(size),
            }
        }
    }
    fn mlp(&mut self) {
        self.section();
        let layers = self.len();
        for _ in 0..layers {
            self.section();
            self.len();
            self.len();
            match self.flag() {
                0 => self.vec(4, Some(Field::F32)),
                _ => self.vec(2, None),
            }
            self.vec(4, Some(Field::F32));
        }
    }
}

fn walk(payload: &[u8], version: u16) -> (Vec<(usize, Field)>, Vec<usize>) {
    let mut w = Walk {
        b: payload,
        at: 0,
        fields: Vec::new(),
        sections: Vec::new(),
    };
    w.vec(1, None);
    w.section();
    let d = w.len();
    for _ in 0..d {
        w.section();
        w.vec(1, None);
        match w.flag() {
            1 => {
                let n = w.len();
                for _ in 0..n {
                    w.vec(1, None);
                }
                w.vec(8, Some(Field::Count64));
            }
            _ => {
                let scalars = if version >= 6 { 4 } else { 3 };
                for _ in 0..scalars {
                    w.field(Field::F64, 8);
                }
                w.field(Field::Count64, 8);
                w.vec(8, Some(Field::F64));
                w.vec(8, Some(Field::F64));
                w.vec(8, Some(Field::Count64));
                w.field(Field::F64, 8);
                w.field(Field::F64, 8);
            }
        }
    }
    w.mlp();
    w.section();
    let masks = w.len();
    for _ in 0..masks {
        let k = w.field(Field::Len16, 2) as usize;
        w.skip(2 * k);
    }
    w.section();
    w.vec(4, Some(Field::F32));
    w.vec(4, Some(Field::F32));
    w.field(Field::F32, 4);
    w.field(Field::F32, 4);
    w.section();
    w.len();
    w.len();
    w.field(Field::F32, 4);
    w.vec(4, Some(Field::F32));
    w.section();
    w.vec(8, Some(Field::F64));
    w.section();
    if w.flag() == 1 {
        w.mlp();
    }
    w.section();
    if w.flag() == 1 {
        w.len();
        w.field(Field::F32, 4);
        w.vec(4, Some(Field::F32));
        w.vec(4, Some(Field::F32));
    }
    w.section();
    if w.flag() == 1 {
        w.field(Field::F32, 4);
        let n = w.len();
        for _ in 0..n {
            if w.flag() != 0 {
                w.vec(4, Some(Field::F32));
            }
        }
    }
    if version >= 7 {
        // The reference rows' own distances (a clean model's).
        w.section();
        w.vec(4, Some(Field::F32));
    }
    assert_eq!(w.at, payload.len(), "the walk ends at the payload's end");
    (w.fields, w.sections)
}

/// `payload` behind a header that says its length, and its CRC-32.
fn sealed(head: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = head[..HEADER].to_vec();
    out[10..14].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The values a field is overwritten with.
fn values_for(f: Field, remaining: usize) -> Vec<Vec<u8>> {
    let le32 = |v: u32| v.to_le_bytes().to_vec();
    let le64 = |v: u64| v.to_le_bytes().to_vec();
    match f {
        Field::Len => vec![
            le32(0),
            le32(1),
            le32(u32::MAX),
            le32(1 << 31),
            le32(1 << 28),
            le32(remaining as u32),
            le32(remaining as u32 / 2 + 1),
            // 2^60 over the length and the next field's bytes.
            le64(1 << 60),
        ],
        Field::Len16 => vec![vec![0, 0], vec![0xFF, 0xFF], vec![0, 0x80]],
        Field::Flag => [0u8, 1, 2, 3, 7, 255].iter().map(|&b| vec![b]).collect(),
        Field::Count64 => vec![le64(0), le64(1 << 60), le64(u64::MAX), le64(u64::MAX / 2)],
        Field::F64 => [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -1.0,
            1e308,
            2.0,
        ]
        .iter()
        .map(|v| v.to_le_bytes().to_vec())
        .collect(),
        Field::F32 => [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -1.0,
            f32::MAX,
        ]
        .iter()
        .map(|v| v.to_le_bytes().to_vec())
        .collect(),
    }
}

/// The mutations of one model's bytes, each with what it did: payloads
/// (resealed, and also kept with the original header and CRC) or whole bytes.
fn mutations(bytes: &[u8], version: u16, rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let payload = &bytes[HEADER..bytes.len() - 4];
    let plen = payload.len();
    let (fields, sections) = walk(payload, version);
    let mut payloads: Vec<(String, Vec<u8>)> = Vec::new();
    // Every length, count, flag and listed scalar overwritten.
    for &(at, f) in &fields {
        for v in values_for(f, plen - at) {
            let mut p = payload.to_vec();
            let end = (at + v.len()).min(plen);
            p[at..end].copy_from_slice(&v[..end - at]);
            payloads.push((format!("{f:?} at {at} set to {v:02x?}"), p));
        }
    }
    // Cut at every section boundary and at random points.
    let mut cuts: Vec<usize> = sections.clone();
    cuts.extend((0..100).map(|_| rng.below(plen as u64) as usize));
    for &c in &cuts {
        payloads.push((format!("cut at {c}"), payload[..c].to_vec()));
    }
    // Whole sections removed and repeated; random ranges too.
    let mut ranges: Vec<(usize, usize)> = sections.windows(2).map(|w| (w[0], w[1])).collect();
    for _ in 0..100 {
        let a = rng.below(plen as u64) as usize;
        let b = (a + 1 + rng.below(64) as usize).min(plen);
        ranges.push((a, b));
    }
    for (a, b) in ranges {
        let mut removed = payload[..a].to_vec();
        removed.extend_from_slice(&payload[b..]);
        payloads.push((format!("{a}..{b} removed"), removed));
        let mut repeated = payload[..b].to_vec();
        repeated.extend_from_slice(&payload[a..]);
        payloads.push((format!("{a}..{b} repeated"), repeated));
    }
    // Random bytes flipped in the payload.
    for _ in 0..1500 {
        let mut p = payload.to_vec();
        let mut at = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(plen as u64) as usize;
            p[i] ^= 1 + rng.below(255) as u8;
            at.push(i);
        }
        payloads.push((format!("bytes {at:?} flipped"), p));
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, p) in &payloads {
        // As stored (the checksum no longer matches, or the length does not),
        // and resealed.
        let mut raw = bytes[..HEADER].to_vec();
        raw.extend_from_slice(p);
        raw.extend_from_slice(&bytes[bytes.len() - 4..]);
        out.push((what.clone(), raw));
        out.push((format!("{what}, resealed"), sealed(bytes, p)));
    }
    // Any version, resealed; flips anywhere in the whole bytes, header and
    // checksum included.
    for v in 0..=8u16 {
        let mut head = bytes[..HEADER].to_vec();
        head[8..10].copy_from_slice(&v.to_le_bytes());
        out.push((format!("version {v}, resealed"), sealed(&head, payload)));
    }
    for _ in 0..200 {
        let mut b = bytes.to_vec();
        let i = rng.below(b.len() as u64) as usize;
        b[i] ^= 1 + rng.below(255) as u8;
        out.push((format!("byte {i} of the whole flipped"), b));
    }
    out.push(("nothing".into(), Vec::new()));
    out.push(("the header alone".into(), bytes[..HEADER].to_vec()));
    out
}

/// A decoded model scores, explains and embeds every probe row: finite
/// scores, the same bits through both paths.
fn exercise(
    m: &Model,
    rows: &[Vec<Value<'static>>],
    pool: &rayon::ThreadPool,
) -> Result<(), String> {
    // The probes in the decoded model's columns (by name, as the glue binds
    // them; a column it does not know reads NULL).
    let names = m.columns.iter().map(|c| c.name.as_str());
    let kinds: Vec<usize> = names
        .map(|n| n.trim_start_matches('c').parse().unwrap_or(usize::MAX))
        .collect();
    let rows: Vec<Vec<Value<'static>>> = rows
        .iter()
        .map(|r| {
            kinds
                .iter()
                .map(|&j| r.get(j).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect();
    let mut s = m.scratch();
    let batch = m.score_batch(&rows, pool).map_err(|e| e.to_string())?;
    for (i, r) in rows.iter().enumerate() {
        let one = m.score(r, &mut s).map_err(|e| e.to_string())?;
        if !one.is_finite() || one.to_bits() != batch[i].to_bits() {
            return Err(format!("row {i}: one-row {one}, batch {}", batch[i]));
        }
        let q = m.quantile(one);
        if !(0.0..=1.0).contains(&q) {
            return Err(format!("row {i}: quantile {q}"));
        }
        m.explain(r, &mut s).map_err(|e| e.to_string())?;
        m.embed(r).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn mutated_model_bytes_decode_to_an_error_or_a_model_that_scores() {
    use ColumnKind::{Categorical as C, Numeric as N, Time as T};
    // (columns, NULLs and NaNs, distilled student, rows: 150-300, so each
    // model has the small-table tail term; trained on rows declared clean,
    // so its reference keeps its own distances)
    let cases: [(&[ColumnKind], bool, bool, usize, bool); 5] = [
        (&[N, N, N], true, true, 200, false),
        (&[C, N, T, C], true, false, 250, false),
        (&[T, C, C], false, true, 150, false),
        (&[N, N, C], false, false, 300, false),
        (&[N, C, N], true, true, 220, true),
    ];
    let pool = thread_pool(2).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = Rng::new(2024);
    let (mut tried, mut decoded) = (0usize, 0usize);
    for (i, (kinds, nulls, distill, n, clean)) in cases.into_iter().enumerate() {
        let (specs, rows) = table(n, kinds, nulls, 10 + i as u64);
        let opts = TrainOptions {
            epochs: Some(2),
            distill: Some(distill),
            seed: Some(i as u64),
            clean: clean.then_some(true),
            ..Default::default()
        };
        let (m, _) =
            train(&specs, &rows, &opts, &pool, &mut |_| true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.tails.is_some(), kinds.contains(&N));
        assert_eq!(m.student.is_some(), distill);
        assert_eq!(m.reference.local.is_empty(), !clean);
        let bytes = codec::encode(&m);
        let probe = probes(kinds, &rows);
        exercise(&m, &probe, &pool).unwrap_or_else(|e| panic!("case {i}: {e}"));
        for (what, b) in mutations(&bytes, codec::FORMAT_VERSION, &mut rng) {
            tried += 1;
            LARGEST.store(0, Ordering::Relaxed);
            if let Ok(back) = codec::decode(&b) {
                decoded += 1;
                if let Err(e) = exercise(&back, &probe, &pool) {
                    panic!("case {i}, {what}: {e}");
                }
            }
            let largest = LARGEST.load(Ordering::Relaxed);
            assert!(
                largest <= MAX_ALLOCATION,
                "case {i}, {what}: an allocation of {largest} bytes"
            );
        }
    }
    eprintln!("{tried} mutations, {decoded} decoded");
    assert!(decoded > 100 && decoded < tried);
}
