//! Reading a training source through SPI with the caller's privileges
//! (row-level security applies): column discovery, type mapping, and a
//! single streaming pass that reservoir-samples the rows.

use crate::error;
use crate::types::{self, ReadAs};
use pgrx::prelude::*;
use ssad_core::reservoir::Reservoir;
use ssad_core::{time, ColumnSpec, Value};
use std::borrow::Cow;

/// A column of the source relation.
pub struct SourceColumn {
    pub name: String,
    pub type_oid: pg_sys::Oid,
    pub type_name: String,
}

pub fn relation_name(relid: pg_sys::Oid) -> String {
    crate::spi_read::one::<String>("SELECT $1::regclass::text", &[crate::spi_read::arg(relid)])
        .unwrap_or_else(|| format!("relation {}", relid.to_u32()))
}

pub fn columns_of(relid: pg_sys::Oid) -> Vec<SourceColumn> {
    let res = Spi::connect(|c| {
        let t = c.select(
            "SELECT attname::text, atttypid, format_type(atttypid, atttypmod)
               FROM pg_catalog.pg_attribute
              WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped
              ORDER BY attnum",
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

/// Resolve `columns` / `exclude` against the relation: named columns must exist
/// and have a supported type; with no list, unsupported columns are set aside.
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
    }
    let mut feeds: Vec<Feed> = Vec::new();
    let mut skipped = Vec::new();
    match columns {
        Some(names) => {
            for n in names {
                if exclude.contains(n) || feeds.iter().any(|f| &f.attribute == n) {
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

/// Stream every row of the relation once, keeping a uniform sample of the
/// model columns' values. Returns the sample and the number of rows scanned.
pub fn sample_rows(
    relid: pg_sys::Oid,
    feeds: &[Feed],
    sample_size: usize,
    seed: u64,
) -> (Vec<Vec<Value<'static>>>, u64) {
    let list: Vec<String> = feeds
        .iter()
        .map(|f| types::read_expr(&f.attribute, f.read))
        .collect();
    // The relation is interpolated as its regclass text (quoted, qualified when needed).
    let query = format!("SELECT {} FROM {}", list.join(", "), relation_name(relid));
    let width: usize = feeds
        .iter()
        .map(|f| types::expand(&f.attribute, f.read).len())
        .sum();
    let mut reservoir = Reservoir::new(sample_size, seed);
    let res = Spi::connect(|c| {
        let mut cursor = c.open_cursor(query.as_str(), &[]);
        loop {
            pg_sys::check_for_interrupts!();
            let batch = cursor.fetch(10_000)?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                let mut values = Vec::with_capacity(width);
                for (i, f) in feeds.iter().enumerate() {
                    match f.read {
                        ReadAs::Number => {
                            values.push(row.get::<f64>(i + 1)?.map_or(Value::Null, Value::Num))
                        }
                        ReadAs::Text | ReadAs::Boolean => values.push(
                            row.get::<String>(i + 1)?
                                .map_or(Value::Null, |t| Value::Text(Cow::Owned(t))),
                        ),
                        ReadAs::Timestamp | ReadAs::Date => {
                            let epoch = row.get::<f64>(i + 1)?;
                            values.push(epoch.map_or(Value::Null, Value::Num));
                            if f.read == ReadAs::Timestamp {
                                values.push(time::hour_value(epoch));
                            }
                            values.push(time::day_value(epoch));
                        }
                    }
                }
                reservoir.offer(values);
            }
        }
        Ok::<_, pgrx::spi::Error>(())
    });
    if let Err(e) = res {
        pgrx::error!("ssad: reading the source failed: {e}");
    }
    let seen = reservoir.seen();
    (reservoir.into_items(), seen)
}
