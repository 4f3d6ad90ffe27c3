//! Training: `ssad_train` samples a relation, pretrains a masked-column model
//! and stores it as the new active version; `ssad_retrain` replays the stored
//! arguments of a model (for pg_cron), skipping when a run is already going.

use crate::error::Kind;
use crate::{catalog, error, gucs, source};
use pgrx::prelude::*;
use pgrx::{JsonB, PgRelation};
use serde_json::json;
use ssad_core::memory::{self, SampleShape};
use ssad_core::options::MIN_SAMPLE_SIZE;
use ssad_core::train::train_sample;
use ssad_core::{codec, thread_pool, Event, TrainOptions};
use std::time::Instant;

/// One row of a training summary.
type Summary = (String, i32, i64, i64, Vec<String>, Vec<String>, f64, f64);

/// What to train: the same for a first training and a replayed one.
struct Request<'a> {
    name: &'a str,
    relid: pg_sys::Oid,
    columns: Option<Vec<String>>,
    exclude: Vec<String>,
    options: serde_json::Value,
}

fn valid_name(model_name: Option<&str>) -> &str {
    let name = error::required(model_name, "model_name").trim();
    if name.is_empty() {
        error::invalid_parameter(
            "model_name must be a non-empty name".into(),
            "Pass a name such as 'payments_model'.",
        )
    }
    if name.len() > 63 {
        error::invalid_parameter(
            format!("model name \"{name}\" is longer than 63 bytes"),
            "Use a shorter name.",
        );
    }
    name
}

/// The most rows, at most `cap`, whose training fits in `ssad.train_memory`;
/// refuses the training (53200) when not even `MIN_SAMPLE_SIZE` rows do.
fn fitting_rows(shape: &SampleShape, opts: &TrainOptions, cap: usize, why: Option<&str>) -> usize {
    let budget = gucs::train_memory_bytes();
    let rows = memory::max_rows(shape, budget, opts, cap);
    let least = (MIN_SAMPLE_SIZE as usize).min(cap);
    if rows < least {
        let needed = memory::estimate(shape, least, opts).total();
        error::train_memory(least, shape.columns(), needed, why);
    }
    rows
}

/// Train and store a new active version. The caller holds the name's lock.
fn run(req: Request<'_>) -> Summary {
    let started = Instant::now();
    let mut opts =
        TrainOptions::from_json(&req.options.to_string()).unwrap_or_else(|e| error::core(e));
    opts.sample_size
        .get_or_insert(gucs::SAMPLE_SIZE.get() as u64);
    opts.threads.get_or_insert(gucs::THREADS.get() as u32);

    source::require_rows(req.relid);
    let relation = source::relation_name(req.relid);
    let available = source::columns_of(req.relid);
    let selection =
        source::select_columns(&relation, &available, req.columns.as_deref(), &req.exclude);
    if selection.specs.is_empty() {
        error::raise(
            Kind::DatatypeMismatch,
            format!("{relation} has no column ssad can train on"),
            (!selection.skipped.is_empty()).then(|| {
                let set_aside: Vec<String> = selection
                    .skipped
                    .iter()
                    .map(|(col, why)| format!("\"{col}\" ({why})"))
                    .collect();
                format!("Set aside: {}.", set_aside.join(", "))
            }),
            Some(&format!("Supported types: {}.", crate::types::SUPPORTED)),
        );
    }
    for (col, why) in &selection.skipped {
        pgrx::notice!("ssad: column \"{col}\" left out ({why})");
    }
    let sample_size = opts.sample_size.unwrap_or(20_000) as usize;
    let seed = opts.seed.unwrap_or(ssad_core::options::DEFAULT_SEED);
    // Bound the training's memory before reading: the largest sample that fits.
    let shape = source::sample_shape(&selection, &available);
    let cap = fitting_rows(&shape, &opts, sample_size, None);
    // A large distributed table is sampled on its shards (Citus).
    let shard_sample = crate::citus::shard_sample(req.relid, cap, seed);
    if let Some(s) = &shard_sample {
        pgrx::notice!(
            "ssad: sampling {:.4}% of the {} rows of distributed table {relation} on its shards",
            s.percent,
            s.rows_in_table
        );
    }
    let clause = shard_sample.as_ref().map(|s| s.clause.as_str());
    let (sample, scanned, cap) =
        source::sample_rows(req.relid, clause, &selection.feeds, cap, seed, |res| {
            // Texts are known as they are read: when the sample's grow past the
            // estimate, shrink the sample to fit (uniformly: still a uniform sample).
            let n = res.sample().len().max(1);
            let shape = SampleShape {
                text_bytes: res.sample().text_bytes() as f64 / n as f64,
                ..shape
            };
            if memory::estimate(&shape, res.cap(), &opts).total() > gucs::train_memory_bytes() {
                let why = format!("its texts take about {:.0} bytes a row", shape.text_bytes);
                res.shrink(fitting_rows(&shape, &opts, res.cap(), Some(&why)));
            }
        });
    if cap < sample_size && scanned > cap as u64 {
        pgrx::notice!(
            "ssad: sampled {cap} rows, not the {sample_size} of sample_size: more do not fit in ssad.train_memory ({})",
            gucs::train_memory_text()
        );
        // The model records the sample size it was trained with.
        opts.sample_size = Some(cap as u64);
    }

    let pool = thread_pool(opts.threads.unwrap_or(1) as usize).unwrap_or_else(|e| error::core(e));
    let train_start = Instant::now();
    let mut on_event = |e: Event| {
        // Runs on this backend thread between batches: safe to call Postgres.
        pg_sys::check_for_interrupts!();
        if let Event::Epoch {
            epoch,
            epochs,
            loss,
        } = e
        {
            // DEBUG1, as Postgres reports the steps of its own commands:
            // `SET client_min_messages = debug1` shows them.
            pgrx::debug1!(
                "ssad: epoch {epoch}/{epochs} loss {loss:.5} elapsed {:.1}s",
                train_start.elapsed().as_secs_f64()
            );
        }
        true
    };
    let (model, report) = train_sample(&selection.specs, &sample, &opts, &pool, &mut on_event)
        .unwrap_or_else(|e| error::core(e));
    drop(sample);

    let mut skipped: Vec<(String, String)> = selection.skipped.clone();
    skipped.extend(
        report
            .skipped_columns
            .iter()
            .map(|(c, why)| (c.clone(), why.to_string())),
    );
    for (col, why) in &report.skipped_columns {
        pgrx::notice!("ssad: column \"{col}\" left out ({why})");
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut metrics = json!({
        "rows_used": report.rows_used,
        "rows_scanned": scanned,
        "final_loss": report.final_loss,
        "train_seconds": seconds,
        "skipped_columns": skipped.iter().map(|(c, w)| json!({"column": c, "reason": w})).collect::<Vec<_>>(),
    });
    if let Some(s) = &shard_sample {
        metrics["rows_in_table"] = json!(s.rows_in_table);
    }
    let source = source::qualified_name(req.relid);
    let version = catalog::insert_version(catalog::NewVersion {
        name: req.name,
        source: &source,
        train_args: JsonB(
            json!({"columns": req.columns, "exclude": req.exclude, "options": req.options}),
        ),
        columns: JsonB(catalog::columns_json(&model)),
        options: JsonB(report.options.catalog_json()),
        metrics: JsonB(metrics),
        score_quantiles: model.score_quantiles.clone(),
        format_version: codec::FORMAT_VERSION as i32,
        model: codec::encode(&model),
    });
    catalog::prune_versions(req.name, gucs::VERSIONS_KEPT.get());
    // On a Citus coordinator: the new version on every worker too.
    crate::api::cluster::propagate(&[req.name]);
    (
        req.name.to_string(),
        version,
        report.rows_used as i64,
        scanned as i64,
        report.used_columns,
        skipped
            .into_iter()
            .map(|(c, w)| format!("{c}: {w}"))
            .collect(),
        report.final_loss,
        seconds,
    )
}

/// Train a model on `source` and make it the active version of `model_name`.
#[pg_extern(volatile, parallel_unsafe)]
// pgrx reads the SQL result columns from the literal TableIterator type, so no alias.
#[allow(clippy::type_complexity)]
fn ssad_train(
    model_name: Option<&str>,
    source: Option<PgRelation>,
    columns: default!(Option<Vec<Option<String>>>, "NULL"),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    options: default!(Option<JsonB>, "'{}'"),
) -> TableIterator<
    'static,
    (
        name!(model_name, String),
        name!(version, i32),
        name!(rows_used, i64),
        name!(rows_scanned, i64),
        name!(columns, Vec<String>),
        name!(skipped_columns, Vec<String>),
        name!(final_loss, f64),
        name!(seconds, f64),
    ),
> {
    let name = valid_name(model_name);
    let Some(source) = source else {
        error::raise(
            Kind::NullValue,
            "source must not be NULL".into(),
            None,
            Some("Pass the table or view to train on, e.g. 'public.payments'."),
        )
    };
    let relid = source.oid();
    drop(source);
    // A second training of the same name waits for the first to commit.
    catalog::lock_name(name, true);
    TableIterator::once(run(Request {
        name,
        relid,
        columns: columns.map(|c| error::no_null_elements(c, "columns")),
        exclude: error::no_null_elements(exclude.unwrap_or_default(), "exclude"),
        options: options.map_or_else(|| json!({}), |j| j.0),
    }))
}

/// Train a new version of a model from its stored source, columns and
/// options; the new version becomes active only if training succeeds. When
/// another retrain of the same model is running, skip with a NOTICE.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
pub(crate) fn ssad_retrain(
    model_name: &str,
) -> TableIterator<
    'static,
    (
        name!(model_name, String),
        name!(version, i32),
        name!(rows_used, i64),
        name!(rows_scanned, i64),
        name!(columns, Vec<String>),
        name!(skipped_columns, Vec<String>),
        name!(final_loss, f64),
        name!(seconds, f64),
    ),
> {
    catalog::require_owner(model_name);
    if !catalog::lock_name(model_name, false) {
        pgrx::notice!("ssad: a training of model \"{model_name}\" is already running; this retrain is skipped");
        return TableIterator::new(Vec::new());
    }
    let stored = catalog::train_args(model_name);
    let relid = source::resolve(&stored.source);
    // A column left out at training may have been dropped since: there is
    // nothing left to exclude, and a scheduled retrain must not fail on it.
    let available = source::columns_of(relid);
    if stored.columns.is_none() {
        // Without a column list the model follows the table: a column it
        // read and that has been dropped since leaves it (with `columns`
        // given, a dropped column is an error: see select_columns).
        let mut gone: Vec<&str> = stored
            .model_columns
            .iter()
            .map(|c| crate::types::attribute_of(c, |a| available.iter().any(|x| x.name == a)))
            .filter(|a| !available.iter().any(|x| &x.name == a))
            .collect();
        gone.sort_unstable();
        gone.dedup();
        for a in gone {
            pgrx::notice!(
                "ssad: column \"{a}\" of model \"{model_name}\" no longer exists in {}; the new version is trained without it",
                source::relation_name(relid)
            );
        }
    }
    let exclude = stored
        .exclude
        .into_iter()
        .filter(|x| available.iter().any(|c| &c.name == x))
        .collect();
    TableIterator::once(run(Request {
        name: model_name,
        relid,
        columns: stored.columns,
        exclude,
        options: stored.options,
    }))
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::{make_table, sqlstate_of};
    use pgrx::prelude::*;

    /// A retrain (as pg_cron runs it) still works after a column that the
    /// training excluded was dropped; a column the model reads must exist.
    #[pg_test]
    fn retrain_survives_a_dropped_excluded_column() {
        Spi::run(
            "CREATE TABLE t_rx AS SELECT i % 10 AS a, (i % 10) * 2.0 + (i % 7) AS b, 'x' || (i % 3) AS c FROM generate_series(1, 300) AS i;
             SELECT ssad_train('rx', 't_rx', exclude => ARRAY['c'], options => '{\"epochs\": 2}');
             ALTER TABLE t_rx DROP COLUMN c;",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Spi::get_one::<i32>("SELECT version FROM ssad_retrain('rx')"),
            Ok(Some(2))
        );
        Spi::run("ALTER TABLE t_rx DROP COLUMN b").unwrap_or_else(|e| panic!("{e}"));
        Spi::run(
            "SELECT ssad_train('rb', 't_rx', columns => ARRAY['a'], options => '{\"epochs\": 2}')",
        )
        .ok();
        Spi::run("ALTER TABLE t_rx RENAME COLUMN a TO a2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sqlstate_of("SELECT ssad_retrain('rb')"), "42703");
    }

    #[pg_test]
    fn train_stores_versions_and_switches_active() {
        make_table("t_train", 300);
        let v1 = Spi::get_one::<i32>(
            "SELECT version FROM ssad_train('m', 't_train', options => '{\"epochs\": 3}')",
        );
        assert_eq!(v1, Ok(Some(1)));
        let v2 = Spi::get_one::<i32>(
            "SELECT version FROM ssad_train('m', 't_train', exclude => ARRAY['c'], options => '{\"epochs\": 3}')",
        );
        assert_eq!(v2, Ok(Some(2)));
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM ssad.models WHERE name = 'm'"),
            Ok(Some(2))
        );
        assert_eq!(
            Spi::get_one::<i32>("SELECT version FROM ssad.models WHERE name = 'm' AND active"),
            Ok(Some(2))
        );
        assert_eq!(
            Spi::get_one::<String>("SELECT array_to_string(columns, ',') FROM ssad_train('m2', 't_train', columns => ARRAY['b', 'a'], options => '{\"epochs\": 2}')"),
            Ok(Some("b,a".into()))
        );
    }

    #[pg_test]
    fn summary_reports_rows_and_skipped_columns() {
        make_table("t_sum", 200);
        Spi::run(
            "ALTER TABLE t_sum ADD COLUMN k int DEFAULT 7, ADD COLUMN note jsonb DEFAULT '{}'",
        )
        .ok();
        let (rows, skipped) = Spi::get_two::<i64, Vec<String>>(
            "SELECT rows_used, skipped_columns FROM ssad_train('s', 't_sum', options => '{\"epochs\": 2}')",
        )
        .unwrap_or((None, None));
        assert_eq!(rows, Some(200));
        let skipped = skipped.unwrap_or_default();
        assert!(
            skipped.iter().any(|s| s.starts_with("k: constant")),
            "{skipped:?}"
        );
        assert!(
            skipped
                .iter()
                .any(|s| s.starts_with("note: unsupported type jsonb")),
            "{skipped:?}"
        );
    }

    #[pg_test]
    fn training_errors_have_sqlstates_and_store_nothing() {
        make_table("t_err", 100);
        let cases = [
            (
                "SELECT ssad_train('e', 't_err', columns => ARRAY['nope'])",
                "42703",
            ),
            (
                "SELECT ssad_train('e', 't_err', exclude => ARRAY['nope'])",
                "42703",
            ),
            ("SELECT ssad_train('e', 'no_such_table')", "42P01"),
            (
                "SELECT ssad_train('e', 't_err', options => '{\"epoch\": 3}')",
                "22023",
            ),
            (
                "SELECT ssad_train('e', 't_err', options => '{\"mask_rate\": 2}')",
                "22023",
            ),
            ("SELECT ssad_train('', 't_err')", "22023"),
            ("SELECT ssad_train(NULL, 't_err')", "22004"),
        ];
        for (sql, code) in cases {
            assert_eq!(sqlstate_of(sql), code, "{sql}");
        }
        Spi::run("ALTER TABLE t_err ADD COLUMN label jsonb").ok();
        assert_eq!(
            sqlstate_of("SELECT ssad_train('e', 't_err', columns => ARRAY['a', 'label'])"),
            "42804"
        );
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM ssad.models"),
            Ok(Some(0))
        );
    }

    /// `ssad.train_memory` set to what a training of 10,000 sampled rows
    /// takes (by the estimate): a sample_size of 30,000 samples that many,
    /// the model's options record it; the table is still read whole.
    #[pg_test]
    fn a_sample_that_does_not_fit_is_shrunk() {
        Spi::run(
            "CREATE TABLE t_mem AS SELECT i, (i % 97)::real AS a, ((i % 13) * 2 + (i % 7))::real AS b,
                    sqrt(i)::real AS c, (i % 5)::smallint AS s
               FROM generate_series(1, 30000) AS i",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let options = r#"{"sample_size": 30000, "epochs": 1, "distill": false}"#;
        let opts = ssad_core::TrainOptions::from_json(options).unwrap_or_else(|e| panic!("{e}"));
        let relid = Spi::get_one::<pg_sys::Oid>("SELECT 't_mem'::regclass::oid")
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no t_mem"));
        let available = crate::source::columns_of(relid);
        let selection = crate::source::select_columns("t_mem", &available, None, &[]);
        let shape = crate::source::sample_shape(&selection, &available);
        // i is an integer (8 bytes a cell), the others real or smallint (4).
        assert_eq!((shape.numeric, shape.narrow), (5, 4), "{shape:?}");
        let kb = ssad_core::memory::estimate(&shape, 10_000, &opts)
            .total()
            .div_ceil(1024);
        let expected = ssad_core::memory::max_rows(&shape, kb * 1024, &opts, 30_000);
        assert!((10_000..10_100).contains(&expected), "{expected}");
        Spi::run(&format!("SET ssad.train_memory = '{kb}kB'")).unwrap_or_else(|e| panic!("{e}"));
        let (used, scanned) = Spi::get_two::<i64, i64>(&format!(
            "SELECT rows_used, rows_scanned FROM ssad_train('mem', 't_mem', options => '{options}')"
        ))
        .unwrap_or((None, None));
        assert_eq!((used, scanned), (Some(expected as i64), Some(30_000)));
        assert_eq!(
            Spi::get_one::<i64>(
                "SELECT (options->>'sample_size')::int8 FROM ssad.models WHERE name = 'mem'"
            ),
            Ok(Some(expected as i64))
        );
        // The whole sample fits: nothing changes.
        Spi::run("SET ssad.train_memory = '1GB'").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Spi::get_one::<i64>(&format!(
                "SELECT rows_used FROM ssad_train('mem', 't_mem', options => '{options}')"
            )),
            Ok(Some(30_000))
        );
    }

    /// Long texts that never repeat push the sample past the estimate made
    /// without them: the reservoir shrinks while it reads.
    #[pg_test]
    fn texts_shrink_the_sample_while_it_is_read() {
        // 80 real columns and a 192-byte text that never repeats.
        let reals: Vec<String> = (0..80)
            .map(|k| format!("((i * {}) % 31)::real AS a{k}", k + 1))
            .collect();
        Spi::run(&format!(
            "CREATE TABLE t_mem_txt AS SELECT {}, repeat(md5(i::text), 6) AS note
               FROM generate_series(1, 30000) AS i",
            reals.join(", ")
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let options = r#"{"sample_size": 20000, "epochs": 1, "distill": false}"#;
        let opts = ssad_core::TrainOptions::from_json(options).unwrap_or_else(|e| panic!("{e}"));
        let relid = Spi::get_one::<pg_sys::Oid>("SELECT 't_mem_txt'::regclass::oid")
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no t_mem_txt"));
        let available = crate::source::columns_of(relid);
        let selection = crate::source::select_columns("t_mem_txt", &available, None, &[]);
        let shape = crate::source::sample_shape(&selection, &available);
        // Room for about 5,000 rows with their texts (held in the sample and
        // in each fetch read); counting the cells alone, many more would fit.
        let with_texts = ssad_core::memory::SampleShape {
            text_bytes: 224.0,
            ..shape
        };
        let budget = ssad_core::memory::estimate(&with_texts, 5_000, &opts).total();
        let cells_only = ssad_core::memory::max_rows(&shape, budget, &opts, 20_000);
        assert!(cells_only > 8_000, "{cells_only}");
        Spi::run(&format!(
            "SET ssad.train_memory = '{}kB'",
            budget.div_ceil(1024)
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let (used, scanned) = Spi::get_two::<i64, i64>(&format!(
            "SELECT rows_used, rows_scanned FROM ssad_train('mem_txt', 't_mem_txt', options => '{options}')"
        ))
        .unwrap_or((None, None));
        let used = used.unwrap_or(0);
        // The texts, measured while reading, shrank the sample below what
        // the cells alone allowed.
        assert!(
            (2_000..8_000).contains(&used),
            "{used} (cells alone: {cells_only})"
        );
        assert_eq!(scanned, Some(30_000));
    }

    /// Not even the smallest sample fits: refused with 53200 before
    /// reading, and nothing is stored.
    #[pg_test]
    fn a_training_that_cannot_fit_is_refused() {
        make_table("t_mem_no", 500);
        Spi::run("SET ssad.train_memory = '1MB'").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sqlstate_of("SELECT ssad_train('no', 't_mem_no')"), "53200");
        Spi::run("RESET ssad.train_memory").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(*) FROM ssad.models WHERE name = 'no'"),
            Ok(Some(0))
        );
    }

    #[pg_test]
    fn same_options_same_model_bytes_and_threads_change_no_score() {
        make_table("t_seed", 150);
        let train = |name: &str, options: &str| {
            Spi::run(&format!(
                "SELECT ssad_train('{name}', 't_seed', options => '{options}')"
            ))
            .unwrap_or_else(|e| panic!("train {name}: {e}"));
        };
        train("a", r#"{"epochs": 2, "seed": 5, "threads": 1}"#);
        train("a2", r#"{"epochs": 2, "seed": 5, "threads": 1}"#);
        train("b", r#"{"epochs": 2, "seed": 5, "threads": 2}"#);
        train("c", r#"{"epochs": 2, "seed": 6, "threads": 1}"#);
        let same_bytes = |x: &str, y: &str| {
            Spi::get_one::<bool>(&format!(
                "SELECT (SELECT model FROM ssad.models WHERE name = '{x}')
                      = (SELECT model FROM ssad.models WHERE name = '{y}')"
            ))
        };
        // The same options store the same model, byte for byte.
        assert_eq!(same_bytes("a", "a2"), Ok(Some(true)));
        // The thread count changes nothing but speed (the model's bytes
        // differ only in the options it records): every score is the same.
        assert_eq!(
            Spi::get_one::<bool>(
                "SELECT bool_and(ssad_score('a', t) = ssad_score('b', t)) FROM t_seed t"
            ),
            Ok(Some(true))
        );
        // Another seed is another model.
        assert_eq!(same_bytes("a", "c"), Ok(Some(false)));
    }
}
