//! Reading a source with the caller's privileges (row-level security
//! applies): column discovery, type mapping, a single streaming pass that
//! reservoir-samples the rows for training, and the scored scans of the
//! whole-table functions (through SPI, or a plain table's heap).

use crate::error;
use crate::error::Kind;
use crate::heap_read;
use crate::spi_scan::{self, Item, RawRow};
use crate::types::{self, ReadAs};
use pgrx::prelude::*;
use ssad_core::batch::{Pipeline, Scored};
use ssad_core::memory::SampleShape;
use ssad_core::{time, ColumnKind, ColumnSpec, Rows, Sample, SampleReservoir, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// A column of the source relation.
pub struct SourceColumn {
    pub name: String,
    pub type_oid: pg_sys::Oid,
    pub type_name: String,
    /// An identity or serial column, or the only column of a primary key or
    /// unique index: a row's label, not a measurement of it (and a new row's
    /// key is beyond every trained one). Left out unless named in `columns`.
    pub key: bool,
}

/// The relation's name as the caller would write it (qualified only when
/// the caller's search_path does not find it): for messages.
pub fn relation_name(relid: pg_sys::Oid) -> String {
    // SAFETY: regclassout takes an oid and returns a palloc'd C string (the
    // oid's digits for a relation that no longer exists).
    unsafe {
        let out = pgrx::direct_function_call::<&std::ffi::CStr>(
            pg_sys::regclassout,
            &[relid.into_datum()],
        );
        out.map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("relation {}", relid.to_u32()))
    }
}

/// Schema-qualified, quoted name: what the catalog stores, independent of search_path.
pub fn qualified_name(relid: pg_sys::Oid) -> String {
    crate::spi_read::one::<String>(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
        &[crate::spi_read::arg(relid)],
    )
    .unwrap_or_else(|| format!("relation {}", relid.to_u32()))
}

/// The relation's kind (`pg_class.relkind`).
pub fn relkind(relid: pg_sys::Oid) -> String {
    crate::spi_read::one::<String>(
        "SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = $1",
        &[crate::spi_read::arg(relid)],
    )
    .unwrap_or_default()
}

/// Error unless the relation holds rows to read: a table (plain,
/// partitioned or foreign), a view or a materialized view. A sequence has a
/// row too, but not one to learn from.
pub fn require_rows(relid: pg_sys::Oid) {
    let kind = relkind(relid);
    let what = match kind.as_str() {
        "r" | "p" | "f" | "v" | "m" => return,
        "S" => "a sequence",
        "i" | "I" => "an index",
        "c" => "a composite type",
        "t" => "a TOAST table",
        _ => "not a table",
    };
    error::raise(
        Kind::WrongObjectType,
        format!("{} is {what}", relation_name(relid)),
        None,
        Some("Pass a table, a view or a materialized view."),
    )
}

/// The relation a stored name refers to now.
pub fn resolve(name: &str) -> pg_sys::Oid {
    crate::spi_read::one::<pg_sys::Oid>(
        "SELECT pg_catalog.to_regclass($1)::oid",
        &[crate::spi_read::arg(name)],
    )
    .unwrap_or_else(|| {
        crate::error::raise(
            Kind::UndefinedTable,
            format!("the source relation {name} of the model no longer exists"),
            None,
            Some("Train the model again with ssad_train() on the relation's new name."),
        )
    })
}

pub fn columns_of(relid: pg_sys::Oid) -> Vec<SourceColumn> {
    let _path = crate::guard::FixedSearchPath::new();
    let res = Spi::connect(|c| {
        let t = c.select(
            "SELECT a.attname::text, a.atttypid, format_type(a.atttypid, a.atttypmod),
                    a.attidentity <> ''
                    OR coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                WHERE i.indrelid = a.attrelid AND (i.indisprimary OR i.indisunique)
                                  AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum
                                  AND i.indpred IS NULL AND i.indexprs IS NULL)
               FROM pg_catalog.pg_attribute a
               LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            None,
            &[relid.into()],
        )?;
        let mut cols = Vec::new();
        for row in t {
            if let (Some(name), Some(type_oid), Some(type_name)) = (
                row.get::<String>(1)?,
                row.get::<pg_sys::Oid>(2)?,
                row.get::<String>(3)?,
            ) {
                cols.push(SourceColumn {
                    name,
                    type_oid,
                    type_name,
                    key: row.get::<bool>(4)?.unwrap_or(false),
                });
            }
        }
        Ok::<_, pgrx::spi::Error>(cols)
    });
    res.unwrap_or_else(|e| pgrx::error!("ssad: reading the columns of the source failed: {e}"))
}

/// An attribute the model reads, and how.
pub struct Feed {
    pub attribute: String,
    pub read: ReadAs,
}

/// The attributes a model is trained on, the model columns they become, and
/// the attributes set aside with the reason.
pub struct Selection {
    pub feeds: Vec<Feed>,
    pub specs: Vec<ColumnSpec>,
    pub skipped: Vec<(String, String)>,
}

/// The extra select expressions that give where a scanned row is: its
/// table (a partition or inheritance child of a parent scanned whole) and
/// its ctid there.
pub const LOCATION: [&str; 2] = ["t.tableoid", "t.ctid"];

/// Why a key column is set aside when no `columns` are given.
const KEY_REASON: &str =
    "a key (identity, serial, primary key or unique): name it in columns to use it";

/// Resolve `columns` / `exclude` against the relation: named columns must exist
/// and have a supported type; with no list, unsupported columns and keys
/// (`SourceColumn::key`) are set aside.
pub fn select_columns(
    relation: &str,
    available: &[SourceColumn],
    columns: Option<&[String]>,
    exclude: &[String],
) -> Selection {
    let find = |n: &str| available.iter().find(|c| c.name == n);
    for x in exclude {
        if find(x).is_none() {
            error::undefined_column(x, relation, "Check the names given in exclude.");
        }
        if columns.is_some_and(|names| names.contains(x)) {
            error::invalid_parameter(
                format!("column \"{x}\" is named in both columns and exclude"),
                "Name a column in one of the two lists.",
            );
        }
    }
    let mut feeds: Vec<Feed> = Vec::new();
    let mut skipped = Vec::new();
    match columns {
        Some(names) => {
            for n in names {
                if feeds.iter().any(|f| &f.attribute == n) {
                    continue;
                }
                let Some(c) = find(n) else {
                    error::undefined_column(n, relation, "Check the names given in columns.")
                };
                match types::read_as(c.type_oid) {
                    Some(read) => feeds.push(Feed {
                        attribute: n.clone(),
                        read,
                    }),
                    None => error::unsupported_type(n, &c.type_name),
                }
            }
        }
        None => {
            for c in available.iter().filter(|c| !exclude.contains(&c.name)) {
                if c.key {
                    skipped.push((c.name.clone(), KEY_REASON.to_string()));
                    continue;
                }
                match types::read_as(c.type_oid) {
                    Some(read) => feeds.push(Feed {
                        attribute: c.name.clone(),
                        read,
                    }),
                    None => {
                        skipped.push((c.name.clone(), format!("unsupported type {}", c.type_name)))
                    }
                }
            }
        }
    }
    let specs = feeds
        .iter()
        .flat_map(|f| types::expand(&f.attribute, f.read))
        .collect();
    Selection {
        feeds,
        specs,
        skipped,
    }
}

/// Append the model values an SPI row holds for `feeds`, reading columns
/// from ordinal `first` on (as written by `types::read_expr`).
fn push_values(
    row: &RawRow<'_>,
    feeds: &[Feed],
    first: usize,
    key_texts: bool,
    values: &mut Vec<Value<'static>>,
) {
    for (i, f) in feeds.iter().enumerate() {
        let ord = first + i;
        match f.read {
            ReadAs::Number | ReadAs::Decimal | ReadAs::Duration | ReadAs::Money => {
                values.push(row.float8(ord).map_or(Value::Null, Value::Num))
            }
            // A long text is kept as its category key (`key_texts`): a sample
            // of documents holds their keys, not the documents.
            ReadAs::Text | ReadAs::Boolean | ReadAs::Printed => {
                values.push(row.get::<String>(ord).map_or(Value::Null, |t| {
                    let kept = match key_texts.then(|| ssad_core::encode::categorical::key(&t)) {
                        Some(Cow::Owned(k)) => k,
                        _ => t,
                    };
                    Value::Text(Cow::Owned(kept))
                }))
            }
            ReadAs::Timestamp | ReadAs::Date => {
                let epoch = row.float8(ord);
                values.push(epoch.map_or(Value::Null, Value::Num));
                if f.read == ReadAs::Timestamp {
                    values.push(time::hour_value(epoch));
                }
                values.push(time::day_value(epoch));
            }
        }
    }
}

/// Stream the whole relation in fetches of `fetch` rows. Each row yields
/// `extract(row)` from the `extra` select expressions (ordinals 1..) and the
/// model values of `feeds` (only those at `projection`, in its order, when
/// given); `on_batch` gets each fetch, and may hand back the buffers of an
/// earlier one for the next fetch to reuse (already touched memory: a fresh
/// buffer costs a page fault a 4 KB on its first use). Checks for interrupts
/// between fetches. With `key_texts`, a long text is read as its category key
/// (training, and models of format 4 on, which know long texts by it).
/// `sample_filter`, SQL after the relation's alias, keeps a sample: a
/// `WHERE` clause on a distributed table's shards (`citus::shard_sample`),
/// or a `TABLESAMPLE` clause (`ssad_drift`).
#[allow(clippy::too_many_arguments)]
pub fn scan<E>(
    relid: pg_sys::Oid,
    sample_filter: Option<&str>,
    feeds: &[Feed],
    projection: Option<&[usize]>,
    extra: &[&str],
    fetch: i64,
    key_texts: bool,
    mut extract: impl FnMut(&RawRow<'_>) -> E,
    mut on_batch: impl FnMut(Vec<E>, Rows) -> Option<(Vec<E>, Rows)>,
) {
    let expanded: usize = feeds
        .iter()
        .map(|f| types::expand(&f.attribute, f.read).len())
        .sum();
    let width = projection.map_or(expanded, <[usize]>::len);
    let cap = fetch.max(1) as usize;
    let (mut extras, mut rows) = (Vec::with_capacity(cap), Rows::with_capacity(width, cap));
    let mut values = Vec::with_capacity(expanded);
    // The expanded values a row keeps, in order.
    let kept: Vec<usize> = projection.map_or_else(|| (0..expanded).collect(), <[usize]>::to_vec);
    // Feeds that are all numbers read as float8 (the common case; then value
    // i is feed i) go straight into the row's cells, without a value each.
    let first = extra.len() + 1;
    let numbers = feeds.iter().all(|f| f.read == ReadAs::Number);
    let mut float8s: Option<bool> = None;
    let mut on = |item: Item<'_>| match item {
        Item::Row(row) => {
            extras.push(extract(row));
            let direct =
                numbers && *float8s.get_or_insert_with(|| row.float8_run(first, feeds.len()));
            let pushed = if direct {
                rows.push_numbers(kept.iter().map(|&i| row.float8_of_run(first + i)))
            } else {
                values.clear();
                push_values(row, feeds, first, key_texts, &mut values);
                rows.push_row(kept.iter().map(|&i| &values[i]))
            };
            pushed.unwrap_or_else(|e| error::core(e));
        }
        Item::EndOfFetch => {
            let (mut e, mut r) = on_batch(
                std::mem::take(&mut extras),
                std::mem::replace(&mut rows, Rows::with_capacity(width, 0)),
            )
            .unwrap_or_else(|| (Vec::with_capacity(cap), Rows::with_capacity(width, cap)));
            e.clear();
            e.reserve(cap);
            r.clear();
            (extras, rows) = (e, r);
        }
    };
    // A plain table is read from its heap where that reads what the query
    // would (`heap_read::Direct::open` says when).
    match sample_filter
        .is_none()
        .then(|| heap_read::Direct::open(relid, feeds, extra))
        .flatten()
    {
        Some(direct) => direct.stream(fetch, &mut on),
        None => spi_scan::stream(
            &scan_query(relid, sample_filter, feeds, extra),
            fetch,
            &mut on,
        ),
    }
}

/// The query a scan runs through SPI: `extra`, then each feed's read
/// expression. The relation is interpolated schema-qualified and quoted; the
/// read expressions qualify every name they use (`types::read_expr`), so the
/// caller's search_path resolves nothing of ssad's here (it stays in effect
/// for what the relation itself runs: a view's functions).
fn scan_query(
    relid: pg_sys::Oid,
    sample_filter: Option<&str>,
    feeds: &[Feed],
    extra: &[&str],
) -> String {
    let mut list: Vec<String> = extra.iter().map(|e| e.to_string()).collect();
    list.extend(feeds.iter().map(|f| types::read_expr(&f.attribute, f.read)));
    format!(
        "SELECT {} FROM {} AS t {}",
        list.join(", "),
        qualified_name(relid),
        sample_filter.unwrap_or_default()
    )
}

/// Score every row of the relation with `model`: each fetch is scored in a
/// pool of `ssad.threads` while this (backend) thread reads the next. `keep` gets each fetch's
/// extras, model values and scores, in scan order.
pub fn scan_scored<E: Send + 'static>(
    model: &Arc<ssad_core::Model>,
    relid: pg_sys::Oid,
    feeds: &ModelFeeds,
    extra: &[&str],
    fetch: i64,
    extract: impl FnMut(&RawRow<'_>) -> E,
    keep: impl FnMut(Vec<E>, &Rows, Vec<f64>),
) {
    scan_scored_sampled(model, relid, None, feeds, extra, fetch, extract, keep)
}

/// `scan_scored` over the rows `sample` (a `TABLESAMPLE` clause) keeps.
#[allow(clippy::too_many_arguments)]
pub fn scan_scored_sampled<E: Send + 'static>(
    model: &Arc<ssad_core::Model>,
    relid: pg_sys::Oid,
    sample: Option<&str>,
    feeds: &ModelFeeds,
    extra: &[&str],
    fetch: i64,
    extract: impl FnMut(&RawRow<'_>) -> E,
    mut keep: impl FnMut(Vec<E>, &Rows, Vec<f64>),
) {
    let mut done = |(extras, rows, scores): Scored<Vec<E>>| {
        keep(extras, &rows, scores.unwrap_or_else(|e| error::core(e)));
        rows
    };
    let pool = ssad_core::thread_pool(crate::gucs::THREADS.get() as usize)
        .unwrap_or_else(|e| error::core(e));
    // Rows repeated across fetches are scored once, within the memory a
    // hash table of the executor's may take (work_mem x hash_mem_multiplier).
    // SAFETY: reads two GUCs; the backend thread.
    let memo_bytes = unsafe { pg_sys::get_hash_memory_limit() };
    let mut pipeline =
        Pipeline::new(Arc::clone(model), pool).with_memo(model.n_columns(), memo_bytes);
    scan(
        relid,
        sample,
        &feeds.feeds,
        feeds.projection(),
        extra,
        fetch,
        model.keys_long_texts(),
        extract,
        |extras, rows| {
            // A scored fetch's row buffer serves the next fetch.
            let back = pipeline.submit(extras, rows).map(&mut done)?;
            Some((Vec::new(), back))
        },
    );
    for d in pipeline.finish() {
        done(d);
    }
}

/// Rows a training's scan fetches at a time.
pub const TRAIN_FETCH: usize = 10_000;

/// What a sample of `selection` holds, for `ssad_core::memory::estimate`
/// (no texts yet: their bytes are measured while sampling). A `real` or
/// `smallint` column's cells take 4 bytes; a boolean's and a time part's
/// categories are known; a fetch is held twice while it is sampled (SPI's
/// tuples and the `Rows` they are read into).
pub fn sample_shape(selection: &Selection, available: &[SourceColumn]) -> SampleShape {
    let mut shape = SampleShape {
        fetch_rows: 2 * TRAIN_FETCH,
        ..SampleShape::default()
    };
    for f in &selection.feeds {
        let narrow = available
            .iter()
            .find(|c| c.name == f.attribute)
            .is_some_and(|c| {
                matches!(
                    types::base_type(c.type_oid),
                    pg_sys::FLOAT4OID | pg_sys::INT2OID
                )
            });
        for spec in types::expand(&f.attribute, f.read) {
            match spec.kind {
                ColumnKind::Numeric => {
                    shape.numeric += 1;
                    shape.narrow += usize::from(narrow);
                }
                ColumnKind::Time => shape.time += 1,
                ColumnKind::Categorical => {
                    shape.categorical += 1;
                    // Categories, "other" and NULL; a time's parts are
                    // the columns named other than the attribute.
                    let part = spec.name != f.attribute;
                    shape.categorical_slots += if f.read == ReadAs::Boolean {
                        2 + 2
                    } else if part && spec.name.ends_with(types::HOUR) {
                        24 + 2
                    } else if part && spec.name.ends_with(types::DOW) {
                        7 + 2
                    } else {
                        ssad_core::memory::CATEGORY_SLOTS
                    };
                }
            }
        }
    }
    shape
}

/// Stream every row of the relation (or those its `sample_filter`, a
/// `WHERE` clause, keeps) once, keeping a uniform sample of at most `cap` rows of the model columns' values. After each fetch `fit` may
/// shrink the reservoir (dropping random members: the sample stays uniform).
/// Returns the sample, the number of rows scanned and the reservoir's cap at
/// the end.
pub fn sample_rows(
    relid: pg_sys::Oid,
    sample_filter: Option<&str>,
    feeds: &[Feed],
    cap: usize,
    seed: u64,
    mut fit: impl FnMut(&mut SampleReservoir),
) -> (Sample, u64, usize) {
    let width = feeds
        .iter()
        .map(|f| types::expand(&f.attribute, f.read).len())
        .sum();
    let mut reservoir = SampleReservoir::new(width, cap, seed);
    scan(
        relid,
        sample_filter,
        feeds,
        None,
        &[],
        TRAIN_FETCH as i64,
        true,
        |_| (),
        |extras, rows| {
            for r in 0..rows.len() {
                reservoir
                    .offer_with(|| rows.row_values(r))
                    .unwrap_or_else(|e| error::core(e));
            }
            fit(&mut reservoir);
            Some((extras, rows))
        },
    );
    let (seen, cap) = (reservoir.seen(), reservoir.cap());
    (reservoir.into_sample(), seen, cap)
}

/// The attributes of a relation that feed a trained model, and where each
/// model column sits among the values they expand to.
pub struct ModelFeeds {
    pub feeds: Vec<Feed>,
    /// Where each model column sits among the feeds' expanded values, when
    /// that is not all of them in order (time parts the model left out as
    /// constant are dropped).
    projection: Option<Vec<usize>>,
}

impl ModelFeeds {
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }
}

/// The attributes of `relid` that feed a trained model's columns (a time
/// attribute feeds its epoch, hour and weekday columns).
pub fn feeds_for_model(model: &ssad_core::Model, relid: pg_sys::Oid) -> ModelFeeds {
    let relation = relation_name(relid);
    let available = columns_of(relid);
    let has = |n: &str| available.iter().any(|c| c.name == n);
    let mut feeds: Vec<Feed> = Vec::new();
    for col in &model.columns {
        let base = if has(&col.name) {
            col.name.as_str()
        } else {
            [types::HOUR, types::DOW]
                .into_iter()
                .find_map(|sfx| col.name.strip_suffix(sfx))
                .filter(|b| has(b))
                .unwrap_or(&col.name)
        };
        if feeds.iter().any(|f| f.attribute == base) {
            continue;
        }
        let Some(c) = available.iter().find(|c| c.name == base) else {
            error::undefined_column(
                base,
                &relation,
                "The model needs this column; score a relation that has it.",
            )
        };
        let Some(read) = types::read_as(c.type_oid) else {
            error::unsupported_type(base, &c.type_name)
        };
        feeds.push(Feed {
            attribute: base.to_string(),
            read,
        });
    }
    let expanded: Vec<ColumnSpec> = feeds
        .iter()
        .flat_map(|f| types::expand(&f.attribute, f.read))
        .collect();
    let projection: Option<Vec<usize>> = model
        .columns
        .iter()
        .map(|c| {
            expanded
                .iter()
                // A time column reads as a number too (models before format 4
                // hold their time columns as numeric ones).
                .position(|e| {
                    e.name == c.name
                        && (e.kind == c.kind || e.kind.is_number() && c.kind.is_number())
                })
        })
        .collect();
    let Some(projection) = projection else {
        error::raise(
            Kind::DatatypeMismatch,
            format!("the columns of {relation} do not have the types the model was trained on"),
            Some(format!(
                "The model expects columns {}.",
                model
                    .columns
                    .iter()
                    .map(|c| format!("{} ({})", c.name, c.kind.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some("Score a relation shaped like the one the model was trained on."),
        )
    };
    // All the expanded values in order need no projection.
    let identity =
        projection.len() == expanded.len() && projection.iter().enumerate().all(|(i, &p)| i == p);
    ModelFeeds {
        feeds,
        projection: (!identity).then_some(projection),
    }
}
