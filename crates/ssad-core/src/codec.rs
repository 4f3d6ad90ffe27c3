//! Versioned binary model format: magic, format version, payload length,
//! payload, CRC-32 of everything before it. Little-endian, no self-describing
//! serialisation of Rust types, every length checked against the bytes left
//! before anything is allocated for it. Bytes that pass the checksum are
//! still checked as if hostile (a writer's bug, a hand-edited catalog row):
//! every count that sizes a scorer's work or buffers (columns, masks,
//! neighbours, reference rows, histogram cells) within what training
//! writes, every sum of training counts within a u64, every number a term
//! divides by, sums or searches finite, and shapes chained, so a model that
//! decodes scores every row without a panic (`tests/codec_fuzz.rs`).

use crate::density::{Density, BINS, MAX_DISCRETE};
use crate::encode::categorical::{CategoricalEncoder, Scheme, MAX_VOCAB};
use crate::encode::{ColumnEncoder, NumericEncoder};
use crate::error::{CoreError, Result};
use crate::knn::{Reference, REFERENCE_ROWS};
use crate::linear::Linear;
use crate::model::{Layout, Model};
use crate::nn::{Dense, Mlp};
use crate::options::ResolvedOptions;
use crate::schema::{ColumnKind, ColumnSpec};
use crate::student::Student;
use crate::tails::{ColumnTail, Tails};
use crate::train::SCORING_MASKS;

pub const MAGIC: &[u8; 8] = b"SSADMODL";
/// 7: the kNN reference rows' own leave-one-out distances
/// (`Reference::local`, empty but for a model trained on rows declared
/// clean) follow the tail term. 6: a numeric column's NaN share (`NumericEncoder::nan_rate`) follows its
/// NULL share: a NaN is a value of its own, and a standardised value
/// saturates at `encode::Z_MAX`. 5: the small-table tail term (`tails`)
/// follows the linear term. 4: the same layout as 3; a categorical column
/// knows a long text by its key and its marginal is its level-set surprise
/// (`categorical`), and a date or timestamp column has kind code 2
/// (`ColumnKind::Time`). 3: the linear term follows the student (2: the
/// distilled student follows the score quantiles; 1: no student). Older
/// versions still decode, without the parts they lack, and score as they
/// did (NaN as NULL before 6); a model written in an older format (tests)
/// leaves out what that format lacks.
pub const FORMAT_VERSION: u16 = 7;
const HEADER: usize = 8 + 2 + 4;
/// Most columns a model has: its masks name columns by u16.
const MAX_COLUMNS: usize = 1 << 16;
/// Most neighbours a kNN reference averages (training stores 5): a search
/// keeps them in order, at a cost that grows with their number.
const MAX_K: usize = 64;
/// Largest kNN coordinate a stored row may hold: a value's coordinate is
/// below 715 however far it lies (`encode::soften` of f64::MAX; below 40
/// from format 6 on), and squared distances of coordinates this size over
/// any number of columns stay far inside f32, which the searches' exactness
/// needs. Formats before 6 may also hold an infinite one (a training value
/// whose standardised value was infinite), which they scored with.
const MAX_KNN_COORD: f32 = 1e4;
/// Weight encodings of a layer.
const WEIGHTS_F32: u8 = 0;
const WEIGHTS_F16: u8 = 1;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn f32s(&mut self, v: &[f32]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.f32(x));
    }
    fn f64s(&mut self, v: &[f64]) {
        self.len(v.len());
        v.iter().for_each(|&x| self.f64(x));
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn corrupt(what: &str) -> CoreError {
    CoreError::CorruptModel(what.to_string())
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| corrupt("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| corrupt("truncated payload"))?;
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.arr()?))
    }
    fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.arr()?))
    }
    /// A count of items of `size` bytes each, checked against the bytes left.
    fn len(&mut self, size: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(size.max(1)) > self.buf.len() - self.pos {
            return Err(corrupt("length exceeds payload"));
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| corrupt("invalid UTF-8"))
    }
    fn f32s(&mut self) -> Result<Vec<f32>> {
        let n = self.len(4)?;
        (0..n).map(|_| self.f32()).collect()
    }
    fn f64s(&mut self) -> Result<Vec<f64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.f64()).collect()
    }
    fn u64s(&mut self) -> Result<Vec<u64>> {
        let n = self.len(8)?;
        (0..n).map(|_| self.u64()).collect()
    }
}

/// The sum of training counts, if it fits a u64 (each part of the model
/// that sums them can then do so without overflowing).
fn total(counts: &[u64]) -> Option<u64> {
    counts.iter().try_fold(0u64, |a, &c| a.checked_add(c))
}

/// A numeric (or, with `time`, time) column's encoder, checked.
fn read_numeric(r: &mut Reader<'_>, version: u16, time: bool) -> Result<ColumnEncoder> {
    let (median, scale, null_rate) = (r.f64()?, r.f64()?, r.f64()?);
    let nan_rate = if version >= 6 { Some(r.f64()?) } else { None };
    let (count, grid) = (r.u64()?, r.f64s()?);
    let values = r.f64s()?;
    let counts = r.u64s()?;
    let (lo, hi) = (r.f64()?, r.f64()?);
    let share = |p: f64| (0.0..=1.0).contains(&p);
    let shares_ok = share(null_rate) && nan_rate.is_none_or(|q| share(q) && share(null_rate + q));
    let ok = grid.len() >= 2 && median.is_finite() && scale > 0.0 && scale.is_finite();
    // A histogram has `BINS` cells; a frequency table at most
    // `MAX_DISCRETE` distinct values, finite and ascending. Either way its
    // range is finite.
    let cells_ok = if values.is_empty() {
        counts.len() == BINS
    } else {
        values.len() == counts.len()
            && values.len() <= MAX_DISCRETE
            && values.iter().all(|v| v.is_finite())
            && values.windows(2).all(|w| w[0] < w[1])
    };
    let range_ok = lo.is_finite() && hi.is_finite() && lo <= hi;
    if !(ok && shares_ok && cells_ok && range_ok && total(&counts).is_some()) {
        return Err(corrupt("numeric encoder"));
    }
    let e = NumericEncoder::from_parts(
        median,
        scale,
        null_rate,
        nan_rate,
        count,
        grid,
        Density::from_parts(values, counts, lo, hi, scale),
    );
    Ok(ColumnEncoder::Numeric(e.into_time(time)))
}

/// Layers: count, then per layer its shape, f16 weights and f32 biases.
fn write_mlp(w: &mut Writer, net: &Mlp) {
    w.len(net.layers.len());
    for l in &net.layers {
        w.len(l.n_in);
        w.len(l.n_out);
        // Weights as IEEE half precision (training rounds them so, see
        // `Mlp::round_weights_to_f16`): half the bytes, the same scores.
        w.u8(WEIGHTS_F16);
        w.len(l.w.len());
        l.w.iter()
            .for_each(|&x| w.u16(half::f16::from_f32(x).to_bits()));
        w.f32s(&l.b);
    }
}

fn read_mlp(r: &mut Reader<'_>) -> Result<Mlp> {
    let n_layers = r.len(8)?;
    let mut layers = Vec::with_capacity(n_layers);
    for _ in 0..n_layers {
        let n_in = r.u32()? as usize;
        let n_out = r.u32()? as usize;
        let w = match r.u8()? {
            WEIGHTS_F32 => r.f32s()?,
            WEIGHTS_F16 => {
                let n = r.len(2)?;
                (0..n)
                    .map(|_| r.u16().map(|b| half::f16::from_bits(b).to_f32()))
                    .collect::<Result<Vec<_>>>()?
            }
            _ => return Err(corrupt("unknown weight encoding")),
        };
        let b = r.f32s()?;
        if w.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(corrupt("non-finite weight"));
        }
        if w.len() != n_in.saturating_mul(n_out) || b.len() != n_out {
            return Err(corrupt("layer shape"));
        }
        layers.push(Dense {
            n_in,
            n_out,
            w: w.into(),
            b,
        });
    }
    Ok(Mlp { layers })
}

/// Serialise a model to bytes.
pub fn encode(m: &Model) -> Vec<u8> {
    encode_version(m, FORMAT_VERSION)
}

/// Serialise in format `version` (1 leaves the student out).
fn encode_version(m: &Model, version: u16) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    // Options as JSON text: small, readable, and tolerant of added fields.
    w.str(&serde_json::to_string(&m.options).unwrap_or_default());
    w.len(m.columns.len());
    for (spec, enc) in m.columns.iter().zip(&m.encoders) {
        w.str(&spec.name);
        // Formats before 4 know time columns as numeric ones.
        let kind = match spec.kind {
            ColumnKind::Time if version < 4 => ColumnKind::Numeric,
            k => k,
        };
        w.u8(kind.code());
        match enc {
            ColumnEncoder::Numeric(e) => {
                w.f64(e.median);
                w.f64(e.scale);
                if version >= 6 {
                    w.f64(e.null_rate);
                    w.f64(e.nan_rate.unwrap_or(0.0));
                } else {
                    // Formats before 6 count a NaN as a NULL.
                    w.f64(e.null_rate + e.nan_rate.unwrap_or(0.0));
                }
                w.u64(e.count);
                w.f64s(&e.grid);
                w.f64s(&e.density.values);
                w.len(e.density.counts.len());
                e.density.counts.iter().for_each(|&c| w.u64(c));
                w.f64(e.density.lo);
                w.f64(e.density.hi);
            }
            ColumnEncoder::Categorical(e) => {
                w.len(e.vocab.len());
                e.vocab.iter().for_each(|v| w.str(v));
                w.len(e.counts.len());
                e.counts.iter().for_each(|&c| w.u64(c));
            }
        }
    }
    write_mlp(&mut w, &m.net);
    w.len(m.masks.len());
    for mask in &m.masks {
        w.u16(mask.len() as u16);
        mask.iter().for_each(|&c| w.u16(c));
    }
    w.f32s(&m.err_norm);
    w.f32s(&m.marg_norm);
    w.f32(m.marg_weight);
    w.f32(m.knn_weight);
    w.len(m.reference.d);
    w.len(m.reference.k);
    w.f32(m.reference.norm);
    w.f32s(&m.reference.rows);
    w.f64s(&m.score_quantiles);
    if version >= 2 {
        match &m.student {
            Some(st) => {
                w.u8(1);
                write_mlp(&mut w, &st.net);
            }
            None => w.u8(0),
        }
    }
    if version >= 3 {
        match &m.linear {
            Some(l) => {
                w.u8(1);
                w.len(l.d);
                w.f32(l.weight);
                w.f32s(&l.w);
                w.f32s(&l.b);
            }
            None => w.u8(0),
        }
    }
    if version >= 5 {
        match &m.tails {
            Some(t) => {
                w.u8(1);
                w.f32(t.weight);
                w.len(t.columns.len());
                for c in &t.columns {
                    match c {
                        Some(c) => {
                            w.u8(if c.right { 2 } else { 1 });
                            w.f32s(&c.sorted);
                        }
                        None => w.u8(0),
                    }
                }
            }
            None => w.u8(0),
        }
    }
    if version >= 7 {
        w.f32s(&m.reference.local);
    }
    let payload = w.0;
    let mut out = Vec::with_capacity(HEADER + payload.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Parse and validate model bytes.
pub fn decode(bytes: &[u8]) -> Result<Model> {
    let (version, payload) = read_header(bytes)?;
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let options = read_options(&mut r)?;
    let (columns, encoders) = read_columns(&mut r, version)?;
    let d = columns.len();
    let net = read_mlp(&mut r)?;
    let masks = read_masks(&mut r, d)?;
    let err_norm = r.f32s()?;
    let marg_norm = r.f32s()?;
    let marg_weight = r.f32()?;
    let knn_weight = r.f32()?;
    let mut reference = read_reference(&mut r, version, d)?;
    let score_quantiles = read_quantiles(&mut r, version)?;
    // The sections each format added, in the order it appended them.
    let student = if version >= 2 {
        read_student(&mut r)?
    } else {
        None
    };
    let linear = if version >= 3 {
        read_linear(&mut r)?
    } else {
        None
    };
    let tails = if version >= 5 {
        read_tails(&mut r, d)?
    } else {
        None
    };
    if version >= 7 {
        reference.local = read_local(&mut r, reference.n_rows())?;
    }
    if r.pos != r.buf.len() {
        return Err(corrupt("trailing bytes"));
    }
    let layout = Layout::new(&encoders);
    let model = Model {
        columns,
        encoders,
        net,
        masks,
        err_norm,
        marg_norm,
        marg_weight,
        reference,
        knn_weight,
        score_quantiles,
        student,
        linear,
        tails,
        options,
        layout,
    };
    validate(&model)?;
    Ok(model)
}

/// The format version and the payload, once the magic, the length and the
/// checksum are right.
fn read_header(bytes: &[u8]) -> Result<(u16, &[u8])> {
    if bytes.len() < HEADER + 4 || &bytes[..8] != MAGIC {
        return Err(corrupt("not an ssad model (bad magic)"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version > FORMAT_VERSION || version == 0 {
        return Err(CoreError::UnsupportedFormat {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let plen = u32::from_le_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
    if bytes.len() != HEADER + plen + 4 {
        return Err(corrupt("length does not match header"));
    }
    let body = &bytes[..HEADER + plen];
    let crc = u32::from_le_bytes([
        bytes[HEADER + plen],
        bytes[HEADER + plen + 1],
        bytes[HEADER + plen + 2],
        bytes[HEADER + plen + 3],
    ]);
    if crc32fast::hash(body) != crc {
        return Err(corrupt("checksum mismatch"));
    }
    Ok((version, &bytes[HEADER..HEADER + plen]))
}

fn read_options(r: &mut Reader<'_>) -> Result<ResolvedOptions> {
    let options: ResolvedOptions =
        serde_json::from_str(&r.str()?).map_err(|e| corrupt(&format!("options: {e}")))?;
    // The default threshold of `ssad_is_anomaly`, as training validates it.
    if !(options.contamination > 0.0 && options.contamination < 0.5) {
        return Err(corrupt("options: contamination"));
    }
    Ok(options)
}

/// The model columns and their encoders.
fn read_columns(r: &mut Reader<'_>, version: u16) -> Result<(Vec<ColumnSpec>, Vec<ColumnEncoder>)> {
    let d = r.len(1)?;
    if d == 0 {
        return Err(corrupt("empty model"));
    }
    if d > MAX_COLUMNS {
        return Err(corrupt("too many columns"));
    }
    let mut columns = Vec::with_capacity(d);
    let mut encoders = Vec::with_capacity(d);
    for _ in 0..d {
        let name = r.str()?;
        let kind = ColumnKind::from_code(r.u8()?).ok_or_else(|| corrupt("unknown column kind"))?;
        let enc = match kind {
            ColumnKind::Numeric | ColumnKind::Time => {
                read_numeric(r, version, kind == ColumnKind::Time)?
            }
            ColumnKind::Categorical => read_categorical(r, version)?,
        };
        columns.push(ColumnSpec { name, kind });
        encoders.push(enc);
    }
    Ok((columns, encoders))
}

fn read_categorical(r: &mut Reader<'_>, version: u16) -> Result<ColumnEncoder> {
    let n = r.len(4)?;
    if n > MAX_VOCAB {
        return Err(corrupt("categorical encoder"));
    }
    let vocab = (0..n).map(|_| r.str()).collect::<Result<Vec<_>>>()?;
    let counts = r.u64s()?;
    if counts.len() != vocab.len() + 2 || total(&counts).is_none() {
        return Err(corrupt("categorical encoder"));
    }
    // Format 4 introduced keys and the level-set marginal.
    let scheme = if version >= 4 {
        Scheme::KeyedLevelSet
    } else {
        Scheme::FullTextProbability
    };
    Ok(ColumnEncoder::Categorical(CategoricalEncoder::from_parts(
        vocab, counts, scheme,
    )))
}

/// The scoring masks, each a list of columns of the `d`.
fn read_masks(r: &mut Reader<'_>, d: usize) -> Result<Vec<Vec<u16>>> {
    let n_masks = r.len(2)?;
    // Scoring runs the network once per mask, in buffers sized by their number.
    if n_masks > SCORING_MASKS {
        return Err(corrupt("too many masks"));
    }
    let mut masks = Vec::with_capacity(n_masks);
    for _ in 0..n_masks {
        let k = r.u16()? as usize;
        if k > d {
            return Err(corrupt("mask longer than the columns"));
        }
        let mask: Vec<u16> = (0..k).map(|_| r.u16()).collect::<Result<_>>()?;
        if mask.iter().any(|&c| c as usize >= d) {
            return Err(corrupt("mask column out of range"));
        }
        masks.push(mask);
    }
    Ok(masks)
}

/// The kNN reference, checked before its search index is built.
fn read_reference(r: &mut Reader<'_>, version: u16, d: usize) -> Result<Reference> {
    let (ref_d, ref_k, ref_norm) = (r.u32()? as usize, r.u32()? as usize, r.f32()?);
    let ref_rows = r.f32s()?;
    let coord_ok = |v: &f32| v.abs() <= MAX_KNN_COORD || (version < 6 && v.is_infinite());
    let shape_ok = ref_d == d
        && (1..=MAX_K).contains(&ref_k)
        && ref_rows.len().is_multiple_of(d)
        && ref_rows.len() / d <= REFERENCE_ROWS;
    if !(shape_ok && ref_rows.iter().all(coord_ok) && ref_norm > 0.0 && ref_norm.is_finite()) {
        return Err(corrupt("kNN reference"));
    }
    Ok(Reference::from_parts(ref_d, ref_k, ref_rows, ref_norm))
}

/// The training scores' quantiles (format 6 on: finite and ascending).
fn read_quantiles(r: &mut Reader<'_>, version: u16) -> Result<Vec<f64>> {
    let q = r.f64s()?;
    if version >= 6 && !(q.iter().all(|v| v.is_finite()) && q.windows(2).all(|w| w[0] <= w[1])) {
        return Err(corrupt("score quantiles"));
    }
    Ok(q)
}

fn read_student(r: &mut Reader<'_>) -> Result<Option<Student>> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(Student { net: read_mlp(r)? })),
        _ => Err(corrupt("student flag")),
    }
}

fn read_linear(r: &mut Reader<'_>) -> Result<Option<Linear>> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let (ld, weight) = (r.u32()? as usize, r.f32()?);
            let (w, b) = (r.f32s()?, r.f32s()?);
            Ok(Some(Linear {
                d: ld,
                weight,
                w: w.into(),
                b,
            }))
        }
        _ => Err(corrupt("linear flag")),
    }
}

/// The tail term of a model of `d` columns.
fn read_tails(r: &mut Reader<'_>, d: usize) -> Result<Option<Tails>> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let weight = r.f32()?;
            let n = r.u32()? as usize;
            if n > d {
                return Err(corrupt("tail term"));
            }
            let mut cols = Vec::with_capacity(n);
            for _ in 0..n {
                cols.push(match r.u8()? {
                    0 => None,
                    side @ (1 | 2) => Some(ColumnTail {
                        right: side == 2,
                        sorted: r.f32s()?,
                    }),
                    _ => return Err(corrupt("tail flag")),
                });
            }
            Ok(Some(Tails {
                weight,
                columns: cols,
            }))
        }
        _ => Err(corrupt("tails flag")),
    }
}

/// The kNN reference rows' own distances: none, or one finite distance per
/// each of its `n` rows.
fn read_local(r: &mut Reader<'_>, n: usize) -> Result<Vec<f32>> {
    let local = r.f32s()?;
    if !(local.is_empty() || local.len() == n && local.iter().all(|v| v.is_finite() && *v >= 0.0)) {
        return Err(corrupt("kNN reference's own distances"));
    }
    Ok(local)
}

/// Cross-field checks: shapes must chain, so scoring can never index out of bounds.
fn validate(m: &Model) -> Result<()> {
    let layout = m.layout();
    let d = m.columns.len();
    let layers = &m.net.layers;
    if d == 0 || layers.is_empty() {
        return Err(corrupt("empty model"));
    }
    if layers[0].n_in != layout.n_in || layers[layers.len() - 1].n_out != layout.n_out {
        return Err(corrupt("network does not match the columns"));
    }
    if layers.windows(2).any(|w| w[0].n_out != w[1].n_in) {
        return Err(corrupt("layer sizes do not chain"));
    }
    let weights_ok = |w: f32| w.is_finite() && w >= 0.0;
    if !weights_ok(m.marg_weight) || !weights_ok(m.knn_weight) {
        return Err(corrupt("term weights"));
    }
    if let Some(st) = &m.student {
        let sl = &st.net.layers;
        if sl.is_empty()
            || sl[0].n_in != Student::n_in(layout.n_values, d)
            || sl[sl.len() - 1].n_out != 1
            || sl.windows(2).any(|w| w[0].n_out != w[1].n_in)
        {
            return Err(corrupt("student network shape"));
        }
    }
    if let Some(l) = &m.linear {
        if l.d != d || !l.is_valid() {
            return Err(corrupt("linear term"));
        }
    }
    if let Some(t) = &m.tails {
        if t.columns.len() != d
            || !(t.weight.is_finite() && t.weight >= 0.0)
            || t.columns.iter().flatten().any(|c| !c.is_valid())
            || t.columns
                .iter()
                .zip(&m.encoders)
                .any(|(c, e)| c.is_some() && !matches!(e, ColumnEncoder::Numeric(_)))
        {
            return Err(corrupt("tail term"));
        }
    }
    if m.err_norm.len() != d || m.marg_norm.len() != d {
        return Err(corrupt("normaliser length"));
    }
    if m.err_norm
        .iter()
        .chain(&m.marg_norm)
        .any(|&v| !(v > 0.0 && v.is_finite()))
    {
        return Err(corrupt("normaliser value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::schema::Value;
    use crate::TrainOptions;

    fn model(distill: bool) -> (Model, Vec<Vec<Value<'static>>>) {
        let specs = ColumnSpec::numbered("c", 3);
        let mut rng = Rng::new(4);
        let rows: Vec<Vec<Value<'static>>> = (0..400)
            .map(|_| {
                let a = rng.normal();
                vec![
                    Value::Num(a),
                    Value::Num(a + 0.2 * rng.normal()),
                    Value::Num(rng.normal()),
                ]
            })
            .collect();
        let opts = TrainOptions {
            epochs: Some(3),
            distill: Some(distill),
            ..Default::default()
        };
        let m = crate::train::fit_for_test(&specs, &rows, &opts);
        (m, rows)
    }

    fn scores(m: &Model, rows: &[Vec<Value<'static>>]) -> Vec<f64> {
        let mut s = m.scratch();
        rows.iter()
            .map(|r| m.score(r, &mut s).unwrap_or(f64::NAN))
            .collect()
    }

    #[test]
    fn round_trip_with_and_without_a_student() {
        for distill in [true, false] {
            let (m, rows) = model(distill);
            assert_eq!(m.student.is_some(), distill);
            let back = decode(&encode(&m)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back, m);
            assert_eq!(scores(&back, &rows), scores(&m, &rows));
        }
    }

    #[test]
    fn version_1_bytes_decode_to_the_exact_teacher() {
        let (m, rows) = model(true);
        let v1 = encode_version(&m, 1);
        assert_eq!(u16::from_le_bytes([v1[8], v1[9]]), 1);
        let back = decode(&v1).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.student.is_none() && back.linear.is_none());
        let teacher = Model {
            student: None,
            linear: None,
            tails: None,
            ..m.clone()
        };
        assert_eq!(scores(&back, &rows), scores(&teacher, &rows));
    }

    #[test]
    fn version_2_bytes_decode_without_the_linear_term() {
        let (m, rows) = model(true);
        assert!(m.linear.is_some());
        let v2 = encode_version(&m, 2);
        assert_eq!(u16::from_le_bytes([v2[8], v2[9]]), 2);
        let back = decode(&v2).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.linear.is_none());
        assert_eq!(back.student, m.student);
        let without = Model {
            linear: None,
            tails: None,
            ..m.clone()
        };
        assert_eq!(scores(&back, &rows), scores(&without, &rows));
        // The linear term changes the scores: version 3 keeps it.
        assert_ne!(scores(&back, &rows), scores(&m, &rows));
    }

    #[test]
    fn version_4_bytes_decode_without_the_tail_term() {
        let (m, rows) = model(true);
        // 400 training rows: the tail term counts (weight 2 x (300/400)^3 / 2).
        assert!(m.tails.is_some());
        let v4 = decode(&encode_version(&m, 4)).unwrap_or_else(|e| panic!("{e}"));
        assert!(v4.tails.is_none() && v4.linear.is_some());
        let without = Model {
            tails: None,
            ..m.clone()
        };
        assert_eq!(scores(&v4, &rows), scores(&without, &rows));
        assert_ne!(scores(&v4, &rows), scores(&m, &rows));
    }

    #[test]
    fn version_6_bytes_decode_without_the_local_scale() {
        let specs = ColumnSpec::numbered("c", 3);
        let (_, rows) = model(false);
        let opts = TrainOptions {
            epochs: Some(3),
            clean: Some(true),
            ..Default::default()
        };
        let m = crate::train::fit_for_test(&specs, &rows, &opts);
        assert_eq!(m.reference.local.len(), m.reference.n_rows());
        // Format 7 keeps the reference rows' own distances.
        let back = decode(&encode(&m)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, m);
        assert_eq!(scores(&back, &rows), scores(&m, &rows));
        // Format 6 (before them): the model scores as a clean model of that
        // format did, the distances divided by the global normaliser alone.
        let v6 = decode(&encode_version(&m, 6)).unwrap_or_else(|e| panic!("{e}"));
        assert!(v6.reference.local.is_empty());
        let mut without = m.clone();
        without.reference.local.clear();
        assert_eq!(v6, without);
        assert_eq!(scores(&v6, &rows), scores(&without, &rows));
        assert_ne!(scores(&v6, &rows), scores(&m, &rows));
        // A default model stores none.
        let (d, _) = model(false);
        assert!(d.reference.local.is_empty());
        // Own distances that do not match the reference are refused.
        let mut bad = m.clone();
        bad.reference.local.pop();
        assert!(decode(&encode(&bad)).is_err());
        bad.reference.local.push(f32::NAN);
        assert!(decode(&encode(&bad)).is_err());
    }

    #[test]
    fn version_5_bytes_read_nan_as_missing_and_version_6_as_a_value() {
        // A column NaN in a fifth of the training rows and never NULL (a
        // tenth would be exactly the share of a column's highest errors a
        // default model's normaliser leaves out, `calibrate::NORM_TRIM`).
        let specs = ColumnSpec::numbered("c", 3);
        let mut rng = Rng::new(8);
        let rows: Vec<Vec<Value<'static>>> = (0..400)
            .map(|i| {
                let a = rng.normal();
                let nan = if i % 5 == 0 { f64::NAN } else { a };
                vec![Value::Num(nan), Value::Num(a), Value::Num(rng.normal())]
            })
            .collect();
        let m = crate::train::fit_for_test(&specs, &rows, &TrainOptions::default());
        let ColumnEncoder::Numeric(e) = &m.encoders[0] else {
            panic!("not numeric")
        };
        assert_eq!((e.nan_rate, e.null_rate), (Some(0.2), 0.0));
        let back = decode(&encode(&m)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, m);
        let v5 = decode(&encode_version(&m, 5)).unwrap_or_else(|e| panic!("{e}"));
        let ColumnEncoder::Numeric(e5) = &v5.encoders[0] else {
            panic!("not numeric")
        };
        assert_eq!(e5.nan_rate, None);
        let probe = |v: Value<'static>| -> Vec<Vec<Value<'static>>> {
            rows.iter()
                .skip(1)
                .take(20)
                .map(|r| {
                    let mut r = r.clone();
                    r[0] = v.clone();
                    r
                })
                .collect()
        };
        let (nan, null) = (probe(Value::Num(f64::NAN)), probe(Value::Null));
        // Format 5: a NaN is a NULL, bit for bit (and a NULL never seen).
        assert_eq!(scores(&v5, &nan), scores(&v5, &null));
        // Format 6: a NaN seen in a fifth of the rows is ordinary, a NULL is not.
        // A NaN still has a prediction error (a NULL never seen has none): on
        // a row unusual in its other columns it can cost as much as the NULL.
        let (s_nan, s_null) = (scores(&m, &nan), scores(&m, &null));
        let lower = s_nan.iter().zip(&s_null).filter(|(a, b)| a < b).count();
        assert!(
            lower >= 18 && s_nan.iter().sum::<f64>() < s_null.iter().sum::<f64>(),
            "{s_nan:?} {s_null:?}"
        );
        assert_eq!(scores(&back, &nan), s_nan);
    }

    #[test]
    fn misshaped_tail_term_is_an_error() {
        let cases: [fn(&mut Tails); 3] = [
            |t| t.columns.pop().map(drop).unwrap_or(()),
            |t| {
                if let Some(Some(c)) = t.columns.first_mut() {
                    c.sorted.reverse();
                }
            },
            |t| t.weight = f32::NAN,
        ];
        for breaks in cases {
            let (mut m, _) = model(false);
            let Some(t) = m.tails.as_mut() else {
                panic!("no tail term")
            };
            breaks(t);
            assert!(matches!(
                decode(&encode(&m)),
                Err(CoreError::CorruptModel(_))
            ));
        }
    }

    #[test]
    fn time_and_category_columns_round_trip_and_format_3_reads_them_as_before() {
        let specs = vec![
            ColumnSpec {
                name: "t".into(),
                kind: ColumnKind::Time,
            },
            ColumnSpec {
                name: "c".into(),
                kind: ColumnKind::Categorical,
            },
            ColumnSpec {
                name: "x".into(),
                kind: ColumnKind::Numeric,
            },
        ];
        let mut rng = Rng::new(6);
        let row = |i: usize, t: f64, rng: &mut Rng| {
            vec![
                Value::Num(t),
                crate::schema::text(["a", "b", "c"][i % 3]),
                Value::Num((i % 3) as f64 + 0.1 * rng.normal()),
            ]
        };
        let rows: Vec<Vec<Value<'static>>> = (0..600)
            .map(|i| row(i, 1.7e9 + i as f64 * 3600.0, &mut rng))
            .collect();
        let opts = TrainOptions {
            epochs: Some(3),
            ..Default::default()
        };
        let m = crate::train::fit_for_test(&specs, &rows, &opts);
        let back = decode(&encode(&m)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, m);
        assert_eq!(back.columns[0].kind, ColumnKind::Time);
        // A week after the last training hour (the span is 25 days).
        let later: Vec<Vec<Value<'static>>> = (0..30)
            .map(|i| row(i, 1.7e9 + 599.0 * 3600.0 + 7.0 * 86_400.0, &mut rng))
            .collect();
        assert_eq!(scores(&back, &later), scores(&m, &later));
        let v3 = decode(&encode_version(&m, 3)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v3.columns[0].kind, ColumnKind::Numeric);
        let ColumnEncoder::Categorical(c3) = &v3.encoders[1] else {
            panic!("not categorical")
        };
        assert_eq!(c3.scheme, Scheme::FullTextProbability);
        // Scans read long texts as keys only for a model that knows them so.
        assert!(m.keys_long_texts() && !v3.keys_long_texts());
        let (now, before) = (scores(&m, &later), scores(&v3, &later));
        assert!(
            now.iter().zip(&before).all(|(a, b)| a < b),
            "{now:?} {before:?}"
        );
    }

    /// A model of a numeric, a categorical and a time column, and the row
    /// every misshapen variant of it would score.
    fn mixed() -> Model {
        let specs = vec![
            ColumnSpec {
                name: "x".into(),
                kind: ColumnKind::Numeric,
            },
            ColumnSpec {
                name: "k".into(),
                kind: ColumnKind::Categorical,
            },
            ColumnSpec {
                name: "t".into(),
                kind: ColumnKind::Time,
            },
        ];
        let mut rng = Rng::new(9);
        let rows: Vec<Vec<Value<'static>>> = (0..300)
            .map(|i| {
                vec![
                    Value::Num(rng.normal()),
                    crate::schema::text(["a", "b", "c"][i % 3]),
                    Value::Num(1.7e9 + i as f64 * 60.0),
                ]
            })
            .collect();
        let opts = TrainOptions {
            epochs: Some(2),
            distill: Some(false),
            ..Default::default()
        };
        crate::train::fit_for_test(&specs, &rows, &opts)
    }

    /// Well-formed bytes (the right lengths, a matching checksum) of parts
    /// that no training writes: each is refused, where the models that hold
    /// them would index out of bounds, overflow a sum, search a reference
    /// inexactly, or allocate by a count the bytes do not back.
    #[test]
    fn misshapen_parts_are_refused() {
        fn numeric(m: &mut Model) -> &mut NumericEncoder {
            match &mut m.encoders[0] {
                ColumnEncoder::Numeric(e) => e,
                ColumnEncoder::Categorical(_) => panic!("not numeric"),
            }
        }
        type Break = fn(&mut Model);
        let cases: Vec<(&str, Break)> = vec![
            ("a histogram of 5 cells", |m| {
                let d = &mut numeric(m).density;
                d.values.clear();
                d.counts = vec![60; 5];
            }),
            ("levels out of order", |m| {
                let d = &mut numeric(m).density;
                d.values = vec![1.0, 0.0];
                d.counts = vec![150, 150];
            }),
            ("a NaN level", |m| {
                let d = &mut numeric(m).density;
                d.values = vec![0.0, f64::NAN];
                d.counts = vec![150, 150];
            }),
            ("counts beyond u64", |m| {
                numeric(m).density.counts[0] = u64::MAX;
            }),
            ("category counts beyond u64", |m| {
                if let ColumnEncoder::Categorical(c) = &mut m.encoders[1] {
                    c.counts[0] = u64::MAX;
                }
            }),
            ("a NaN median", |m| numeric(m).median = f64::NAN),
            ("an infinite range", |m| {
                numeric(m).density.lo = f64::NEG_INFINITY;
            }),
            ("a NULL share above 1", |m| numeric(m).null_rate = 1.5),
            ("no neighbours", |m| m.reference.k = 0),
            ("too many neighbours", |m| m.reference.k = MAX_K + 1),
            ("a NaN reference coordinate", |m| {
                m.reference.rows[4] = f32::NAN
            }),
            ("a huge reference coordinate", |m| {
                m.reference.rows[4] = 1e30
            }),
            ("too many reference rows", |m| {
                let row = m.reference.rows[..3].to_vec();
                while m.reference.rows.len() <= 3 * REFERENCE_ROWS {
                    m.reference.rows.extend_from_slice(&row);
                }
            }),
            ("17 masks", |m| {
                m.masks = (0..17).map(|i| vec![(i % 3) as u16]).collect();
            }),
            ("a mask longer than the columns", |m| {
                m.masks[0] = vec![0, 1, 2, 0]
            }),
            ("a NaN score quantile", |m| m.score_quantiles[3] = f64::NAN),
            ("descending score quantiles", |m| {
                m.score_quantiles.reverse()
            }),
            ("a NaN bias", |m| m.net.layers[1].b[0] = f32::NAN),
            ("a contamination of 0.7", |m| m.options.contamination = 0.7),
        ];
        let base = mixed();
        assert!(decode(&encode(&base)).is_ok());
        for (what, breaks) in cases {
            let mut m = base.clone();
            breaks(&mut m);
            assert!(
                matches!(decode(&encode(&m)), Err(CoreError::CorruptModel(_))),
                "{what}"
            );
        }
        // A model of format 5 may hold an infinite reference coordinate (a
        // training value whose standardised value was infinite): it scored
        // with it, and still does.
        let mut m = base.clone();
        m.reference.rows[4] = f32::INFINITY;
        assert!(decode(&encode_version(&m, 5)).is_ok());
        assert!(decode(&encode(&m)).is_err());
    }

    #[test]
    fn a_quantile_is_a_share_whatever_the_stored_quantiles() {
        // Quantiles of formats before 6 may hold infinities or NaN.
        let mut m = mixed();
        for q in [
            vec![f64::NEG_INFINITY, 0.0, 1.0],
            vec![0.0, f64::NAN, 2.0],
            vec![0.0, 1.0, f64::INFINITY],
        ] {
            m.score_quantiles = q;
            for s in [0.0, 0.5, 1.5, 1e300, f64::MAX] {
                let v = m.quantile(s);
                assert!((0.0..=1.0).contains(&v), "{:?} {s}: {v}", m.score_quantiles);
            }
        }
    }

    #[test]
    fn misshaped_linear_term_is_an_error() {
        let (mut m, _) = model(false);
        let Some(l) = m.linear.as_mut() else {
            panic!("no linear term")
        };
        l.d += 1;
        assert!(matches!(
            decode(&encode(&m)),
            Err(CoreError::CorruptModel(_))
        ));
        let (mut m, _) = model(false);
        if let Some(l) = m.linear.as_mut() {
            l.b.pop();
        }
        assert!(matches!(
            decode(&encode(&m)),
            Err(CoreError::CorruptModel(_))
        ));
    }

    #[test]
    fn misshaped_student_is_an_error() {
        let (mut m, _) = model(true);
        let Some(st) = m.student.as_mut() else {
            panic!("no student")
        };
        // The first layer no longer matches the model's input width.
        let l = &mut st.net.layers[0];
        l.n_in += 1;
        let mut w = l.w.to_vec();
        w.extend(std::iter::repeat_n(0.0, l.n_out));
        l.w = w.into();
        assert!(matches!(
            decode(&encode(&m)),
            Err(CoreError::CorruptModel(_))
        ));
        // An unknown student flag (no linear or tail term: their flags are
        // the last two bytes).
        let (m, _) = model(false);
        let m = Model {
            linear: None,
            tails: None,
            ..m
        };
        let mut bytes = encode(&m);
        let flag = bytes.len() - 7;
        assert_eq!(bytes[flag], 0);
        bytes[flag] = 7;
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&bytes), Err(CoreError::CorruptModel(_))));
    }
}
