//! The planner's rewrite of `ssad_score(m, t)`, for a table's whole row `t`,
//! into `ssad.score_columns(m, names, t.a, t.b, ...)`: one argument per
//! column (and of `ssad_score(t)`, `ssad_quantile` and `ssad_is_anomaly`
//! likewise). A whole-row argument makes the executor form a composite datum
//! of every row (`heap_form_tuple`), which ssad then takes apart again:
//! on a 1M x 16 table, inline scoring took 1386-1409 ms with the whole row
//! and 1121-1125 ms with the columns.
//!
//! The rewrite keeps the call's meaning: the same columns, bound by the same
//! names, and the same NULL result for a NULL model name. It is made only
//! where the whole row can never be NULL, as these functions answer NULL
//! for a NULL row while its columns would score: a table's own row (a
//! base relation of this query level) under no outer join. Everywhere else
//! (outer joins, subqueries, ROW(...), records, PL/pgSQL variables) the call
//! stays as written.

use crate::callsite::{call_site, KeyRef};
use pgrx::prelude::*;
use pgrx::{Internal, PgList};
use std::ffi::CStr;

/// A function the rewrite applies to, by name and arity, and its target.
/// The target takes the call's other arguments in order, then the column
/// names, then the columns.
struct Rewrite {
    name: &'static str,
    nargs: usize,
    target: &'static str,
}

const REWRITES: [Rewrite; 4] = [
    Rewrite {
        name: "ssad_score",
        nargs: 2,
        target: "ssad.score_columns(text,text[],\"any\")",
    },
    Rewrite {
        name: "ssad_score",
        nargs: 1,
        target: "ssad.score_columns_of_type(regtype,text[],\"any\")",
    },
    Rewrite {
        name: "ssad_quantile",
        nargs: 2,
        target: "ssad.quantile_columns(text,text[],\"any\")",
    },
    Rewrite {
        name: "ssad_is_anomaly",
        nargs: 3,
        target: "ssad.is_anomaly_columns(text,double precision,text[],\"any\")",
    },
];

/// Planner support for the row-taking scoring functions: answers `SupportRequestSimplify` with
/// the per-column call where it means the same (see the module comment),
/// with NULL (no rewrite) otherwise and for every other request.
#[pg_extern(sql = false)]
fn score_support(fcinfo: pg_sys::FunctionCallInfo) -> Internal {
    // SAFETY: the planner passes a support request node as the only argument.
    let rewritten = unsafe {
        let req = call_args(fcinfo)
            .first()
            .filter(|a| !a.isnull)
            .map(|a| a.value.cast_mut_ptr::<pg_sys::Node>())
            .filter(|p| !p.is_null());
        match req {
            Some(req) if (*req).type_ == pg_sys::NodeTag::T_SupportRequestSimplify => {
                simplify(&*(req as *const pg_sys::SupportRequestSimplify))
            }
            _ => std::ptr::null_mut(),
        }
    };
    // A NULL pointer as a non-null datum: "no rewrite" (a NULL result is an error).
    Internal::from(Some(pg_sys::Datum::from(rewritten)))
}

/// The per-column call for `req.fcall`, or NULL.
///
/// # Safety
/// `req` must be the planner's request, its nodes valid for this call.
unsafe fn simplify(req: &pg_sys::SupportRequestSimplify) -> *mut pg_sys::Node {
    let none = std::ptr::null_mut();
    if !crate::gucs::INLINE_COLUMNS.get() {
        return none;
    }
    let (root, call) = (req.root, req.fcall);
    // SAFETY: per the contract; every pointer is checked before use.
    unsafe {
        if root.is_null() || call.is_null() || (*root).parse.is_null() {
            return none;
        }
        let args = PgList::<pg_sys::Node>::from_pg((*call).args);
        let name = pg_sys::get_func_name((*call).funcid);
        if name.is_null() {
            return none;
        }
        let name = CStr::from_ptr(name).to_string_lossy();
        let Some(rewrite) = REWRITES
            .iter()
            .find(|r| r.name == name && r.nargs == args.len())
        else {
            return none;
        };
        // The row is the second argument, or the only one.
        let at = usize::from(args.len() > 1);
        let Some(row) = args.get_ptr(at) else {
            return none;
        };
        if (*row).type_ != pg_sys::NodeTag::T_Var {
            return none;
        }
        let var = &*(row as *const pg_sys::Var);
        if var.varattno != 0 || var.varlevelsup != 0 || var.varno < 1 {
            return none;
        }
        let parse = &*(*root).parse;
        let rtable = PgList::<pg_sys::RangeTblEntry>::from_pg(parse.rtable);
        let Some(rte) = rtable.get_ptr(var.varno as usize - 1) else {
            return none;
        };
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION
            || placement(parse.jointree.cast(), var.varno, false) != Some(true)
        {
            return none;
        }
        let columns = columns_of((*rte).relid);
        if columns.is_empty() {
            return none;
        }
        let Some(funcid) = lookup(rewrite.target) else {
            return none;
        };
        // The call's other arguments; `ssad_score(t)` passes t's row type.
        let mut new_args = PgList::<pg_sys::Node>::new();
        if args.len() == 1 {
            new_args.push(
                pg_sys::makeConst(
                    pg_sys::REGTYPEOID,
                    -1,
                    pg_sys::InvalidOid,
                    4,
                    pg_sys::Datum::from(var.vartype),
                    false,
                    true,
                )
                .cast(),
            );
        }
        for (i, a) in args.iter_ptr().enumerate() {
            if i != at {
                new_args.push(a);
            }
        }
        // Those, the names and the columns must fit in one call.
        if new_args.len() + 1 + columns.len() > pg_sys::FUNC_MAX_ARGS as usize {
            return none;
        }
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let Some(names) = names.into_datum() else {
            return none;
        };
        new_args.push(
            pg_sys::makeConst(
                pg_sys::TEXTARRAYOID,
                -1,
                pg_sys::DEFAULT_COLLATION_OID,
                -1,
                names,
                false,
                false,
            )
            .cast(),
        );
        for c in &columns {
            new_args.push(
                pg_sys::makeVar(var.varno, c.attnum, c.type_id, c.typmod, c.collation, 0).cast(),
            );
        }
        let f = pg_sys::makeFuncExpr(
            funcid,
            (*call).funcresulttype,
            new_args.into_pg(),
            pg_sys::InvalidOid,
            (*call).inputcollid,
            pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
        );
        (*f).location = (*call).location;
        f.cast()
    }
}

/// Where relation `varno` sits in a join tree: `Some(true)` under no outer
/// join, `Some(false)` under one (either side: conservative), `None` absent.
///
/// # Safety
/// `node` must be NULL or a valid join tree node.
unsafe fn placement(node: *mut pg_sys::Node, varno: i32, outer: bool) -> Option<bool> {
    // SAFETY: per the contract, each node is read as its own tag says.
    unsafe {
        if node.is_null() {
            return None;
        }
        match (*node).type_ {
            pg_sys::NodeTag::T_RangeTblRef => {
                ((*(node as *const pg_sys::RangeTblRef)).rtindex == varno).then_some(!outer)
            }
            pg_sys::NodeTag::T_FromExpr => {
                let from = &*(node as *const pg_sys::FromExpr);
                PgList::<pg_sys::Node>::from_pg(from.fromlist)
                    .iter_ptr()
                    .find_map(|n| placement(n, varno, outer))
            }
            pg_sys::NodeTag::T_JoinExpr => {
                let j = &*(node as *const pg_sys::JoinExpr);
                let outer = outer || j.jointype != pg_sys::JoinType::JOIN_INNER;
                placement(j.larg, varno, outer).or_else(|| placement(j.rarg, varno, outer))
            }
            _ => None,
        }
    }
}

/// One column of a relation, as a whole-row Var of it holds them.
struct Column {
    name: String,
    attnum: i16,
    type_id: pg_sys::Oid,
    typmod: i32,
    collation: pg_sys::Oid,
}

/// The relation's live columns in order (what its whole row holds).
fn columns_of(relid: pg_sys::Oid) -> Vec<Column> {
    // SAFETY: the query being planned holds a lock on its relations; the
    // descriptor is read while the relation is open.
    unsafe {
        let rel = pg_sys::relation_open(relid, pg_sys::AccessShareLock as i32);
        let td = (*rel).rd_att;
        let cols = (0..(*td).natts as usize)
            .map(|i| &*(*td).attrs.as_ptr().add(i))
            .filter(|a| !a.attisdropped)
            .map(|a| Column {
                name: CStr::from_ptr(a.attname.data.as_ptr())
                    .to_string_lossy()
                    .into_owned(),
                attnum: a.attnum,
                type_id: a.atttypid,
                typmod: a.atttypmod,
                collation: a.attcollation,
            })
            .collect();
        pg_sys::relation_close(rel, pg_sys::NoLock as i32);
        cols
    }
}

/// A function's oid by signature, None when it does not exist (an older
/// install of the extension).
fn lookup(signature: &str) -> Option<pg_sys::Oid> {
    // SAFETY: to_regprocedure takes one text argument and returns NULL when absent.
    unsafe {
        pgrx::direct_function_call::<pg_sys::Oid>(
            pg_sys::to_regprocedure,
            &[signature.into_datum()],
        )
    }
}

/// The call's arguments.
///
/// # Safety
/// `fcinfo` must be the current call's.
unsafe fn call_args<'a>(fcinfo: pg_sys::FunctionCallInfo) -> &'a [pg_sys::NullableDatum] {
    // SAFETY: per the contract: fcinfo holds nargs arguments.
    unsafe { (*fcinfo).args.as_slice((*fcinfo).nargs as usize) }
}

/// The column names argument at `at` (a non-null text[] constant of the rewrite).
fn names_arg(args: &[pg_sys::NullableDatum], at: usize) -> Vec<String> {
    match args.get(at) {
        // SAFETY: the argument at `at` is declared text[].
        Some(a) if !a.isnull => crate::error::no_null_elements(
            unsafe { Vec::<Option<String>>::from_datum(a.value, false) }.unwrap_or_default(),
            "the column names",
        ),
        _ => Vec::new(),
    }
}

/// The model name argument at `at`, None when NULL (these functions then
/// answer NULL, as their whole-row forms do).
fn model_arg(args: &[pg_sys::NullableDatum], at: usize) -> Option<&str> {
    let a = args.get(at).filter(|a| !a.isnull)?;
    // SAFETY: the argument at `at` is declared text and is not NULL.
    unsafe { <&str>::from_datum(a.value, false) }
}

/// `ssad_score('model', t)` with t's columns as arguments (the rewrite's
/// target; not meant to be called directly).
#[pg_extern(sql = false)]
fn score_columns(fcinfo: pg_sys::FunctionCallInfo) -> Option<f64> {
    // SAFETY: this call's fcinfo.
    let args = unsafe { call_args(fcinfo) };
    let site = call_site(fcinfo, KeyRef::Name(model_arg(args, 0)?));
    Some(site.score_args(fcinfo, args, 2, || names_arg(args, 1)))
}

/// `ssad_score(t)` with t's row type and columns as arguments.
#[pg_extern(sql = false)]
fn score_columns_of_type(fcinfo: pg_sys::FunctionCallInfo) -> Option<f64> {
    // SAFETY: this call's fcinfo.
    let args = unsafe { call_args(fcinfo) };
    let row_type = args.first().filter(|a| !a.isnull)?;
    let site = call_site(
        fcinfo,
        KeyRef::RowType(pg_sys::Oid::from(row_type.value.value() as u32)),
    );
    Some(site.score_args(fcinfo, args, 2, || names_arg(args, 1)))
}

/// `ssad_quantile('model', t)` with t's columns as arguments.
#[pg_extern(sql = false)]
fn quantile_columns(fcinfo: pg_sys::FunctionCallInfo) -> Option<f64> {
    // SAFETY: this call's fcinfo.
    let args = unsafe { call_args(fcinfo) };
    let site = call_site(fcinfo, KeyRef::Name(model_arg(args, 0)?));
    let s = site.score_args(fcinfo, args, 2, || names_arg(args, 1));
    Some(site.model.quantile(s))
}

/// `ssad_is_anomaly('model', t, contamination)` with t's columns as arguments.
#[pg_extern(sql = false)]
fn is_anomaly_columns(fcinfo: pg_sys::FunctionCallInfo) -> Option<bool> {
    // SAFETY: this call's fcinfo.
    let args = unsafe { call_args(fcinfo) };
    let name = model_arg(args, 0)?;
    let contamination = args
        .get(1)
        .filter(|a| !a.isnull)
        // SAFETY: argument 1 is declared double precision and is not NULL.
        .and_then(|a| unsafe { f64::from_datum(a.value, false) });
    crate::api::score::check_contamination(contamination);
    let site = call_site(fcinfo, KeyRef::Name(name));
    let s = site.score_args(fcinfo, args, 3, || names_arg(args, 2));
    Some(crate::api::score::flagged(site, s, contamination))
}

extension_sql!(
    r#"
CREATE FUNCTION ssad.score_columns(model_name text, column_names text[], VARIADIC "any")
  RETURNS double precision STABLE PARALLEL SAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'score_columns_wrapper';
CREATE FUNCTION ssad.score_columns_of_type(row_type regtype, column_names text[], VARIADIC "any")
  RETURNS double precision STABLE PARALLEL SAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'score_columns_of_type_wrapper';
CREATE FUNCTION ssad.quantile_columns(model_name text, column_names text[], VARIADIC "any")
  RETURNS double precision STABLE PARALLEL SAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'quantile_columns_wrapper';
CREATE FUNCTION ssad.is_anomaly_columns(model_name text, contamination double precision, column_names text[], VARIADIC "any")
  RETURNS boolean STABLE PARALLEL SAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'is_anomaly_columns_wrapper';
CREATE FUNCTION ssad.score_support(internal) RETURNS internal
  STABLE STRICT PARALLEL SAFE LANGUAGE c
  AS 'MODULE_PATHNAME', 'score_support_wrapper';
ALTER FUNCTION ssad_score(text, anyelement) SUPPORT ssad.score_support;
ALTER FUNCTION ssad_score(anyelement) SUPPORT ssad.score_support;
ALTER FUNCTION ssad_quantile(text, anyelement) SUPPORT ssad.score_support;
ALTER FUNCTION ssad_is_anomaly(text, anyelement, double precision) SUPPORT ssad.score_support;
"#,
    name = "score_columns",
    requires = [
        "catalog",
        api::score::ssad_score,
        api::score::ssad_score_auto,
        api::score::ssad_quantile,
        api::score::ssad_is_anomaly
    ],
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::{make_table, sqlstate_of};
    use pgrx::prelude::*;

    fn plan(q: &str) -> String {
        Spi::connect(|c| {
            c.select(&format!("EXPLAIN (VERBOSE, COSTS OFF) {q}"), None, &[])
                .map(|rows| {
                    rows.filter_map(|r| r.get::<String>(1).ok().flatten())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default()
        })
    }

    fn text(q: &str) -> Option<String> {
        Spi::get_one::<String>(q).ok().flatten()
    }

    /// Scores of every row by id, as text (so "the same" means the same bits).
    fn scores(expr: &str, from: &str) -> Option<String> {
        text(&format!(
            "SELECT string_agg(({expr})::text, ',' ORDER BY t.a, t.b, t.c) FROM {from}"
        ))
    }

    #[pg_test]
    fn a_tables_row_is_scored_from_its_columns() {
        make_table("t_rw", 300);
        Spi::run("SELECT ssad_train('rw', 't_rw', options => '{\"seed\": 3}')").ok();
        let p = plan("SELECT ssad_score('rw', t) FROM t_rw t");
        assert!(
            p.contains("ssad.score_columns('rw'::text, '{a,b,c}'::text[], a, b, c)"),
            "{p}"
        );
        let p = plan("SELECT ssad_score(t) FROM t_rw t WHERE ssad_score(t) > 1");
        assert!(
            p.contains("ssad.score_columns_of_type('t_rw'::regtype"),
            "{p}"
        );
        // Switched off, the call stays as written.
        Spi::run("SET LOCAL ssad.inline_columns = off").ok();
        assert!(!plan("SELECT ssad_score('rw', t) FROM t_rw t").contains("score_columns"));
        let whole = scores("ssad_score('rw', t)", "t_rw t");
        Spi::run("SET LOCAL ssad.inline_columns = on").ok();
        // Under an outer join the row may be NULL: the call stays as written.
        let outer = "(SELECT 1) d LEFT JOIN t_rw t ON true";
        assert!(
            !plan(&format!("SELECT ssad_score('rw', t) FROM {outer}")).contains("score_columns")
        );
        // The same scores, bit for bit, by name and by row type.
        let rewritten = scores("ssad_score('rw', t)", "t_rw t");
        assert!(rewritten.as_ref().is_some_and(|s| s.len() > 300));
        assert_eq!(rewritten, scores("ssad_score('rw', t)", outer));
        assert_eq!(rewritten, whole);
        assert_eq!(rewritten, scores("ssad_score(t)", "t_rw t"));
        assert_eq!(rewritten, scores("ssad_score(t)", outer));
        // ssad_quantile and ssad_is_anomaly likewise.
        let p = plan("SELECT ssad_quantile('rw', t), ssad_is_anomaly('rw', t, 0.2) FROM t_rw t");
        assert!(
            p.contains("ssad.quantile_columns('rw'::text, '{a,b,c}'::text[], a, b, c)"),
            "{p}"
        );
        assert!(p.contains("ssad.is_anomaly_columns('rw'::text, '0.2'::double precision, '{a,b,c}'::text[], a, b, c)"), "{p}");
        for expr in [
            "ssad_quantile('rw', t)",
            "ssad_is_anomaly('rw', t)",
            "ssad_is_anomaly('rw', t, 0.2)",
        ] {
            let (a, b) = (scores(expr, "t_rw t"), scores(expr, outer));
            assert!(a.as_ref().is_some_and(|s| s.len() > 300), "{expr}");
            assert_eq!(a, b, "{expr}");
        }
        assert!(
            scores("ssad_is_anomaly('rw', t, 0.2)", "t_rw t").is_some_and(|s| s.contains("true"))
        );
        assert_eq!(
            sqlstate_of("SELECT ssad_is_anomaly('rw', t, 1.5) FROM t_rw t"),
            "22023"
        );
        // An outer join's missing row is still NULL.
        assert_eq!(
            Spi::get_one::<f64>(
                "SELECT ssad_score('rw', t) FROM (SELECT 1) d LEFT JOIN t_rw t ON false"
            ),
            Ok(None)
        );
    }

    #[pg_test]
    fn rewritten_calls_keep_null_and_errors() {
        make_table("t_rw2", 300);
        Spi::run("SELECT ssad_train('rw2', 't_rw2', options => '{\"seed\": 3}')").ok();
        // A NULL model name known only at run time (generic plan) gives NULL.
        Spi::run("PREPARE p_rw(text) AS SELECT ssad_score($1, t) FROM t_rw2 t LIMIT 1").ok();
        Spi::run("SET LOCAL plan_cache_mode = force_generic_plan").ok();
        assert!(plan("EXECUTE p_rw('rw2')").contains("score_columns"));
        assert_eq!(Spi::get_one::<f64>("EXECUTE p_rw(NULL)"), Ok(None));
        assert!(matches!(Spi::get_one::<f64>("EXECUTE p_rw('rw2')"), Ok(Some(x)) if x.is_finite()));
        Spi::run("DEALLOCATE p_rw").ok();
        // A table without a model column, or with it mistyped: the same SQLSTATEs.
        Spi::run("CREATE TABLE t_rw_ab AS SELECT a, b FROM t_rw2").ok();
        Spi::run("CREATE TABLE t_rw_tx AS SELECT a, b, c::text AS c FROM t_rw2").ok();
        assert!(plan("SELECT ssad_score('rw2', t) FROM t_rw_ab t").contains("score_columns"));
        assert_eq!(
            sqlstate_of("SELECT ssad_score('rw2', t) FROM t_rw_ab t"),
            "42703"
        );
        assert_eq!(
            sqlstate_of("SELECT ssad_score('rw2', t) FROM t_rw_tx t"),
            "42804"
        );
        assert_eq!(
            sqlstate_of("SELECT ssad_score('nope', t) FROM t_rw2 t"),
            "42704"
        );
        // Called by hand with names that do not match the values: 22023.
        assert_eq!(
            sqlstate_of("SELECT ssad.score_columns('rw2', ARRAY['a', 'b'], 1)"),
            "22023"
        );
        assert_eq!(
            sqlstate_of("SELECT ssad.score_columns('rw2', NULL, 1, 2, 3)"),
            "22023"
        );
        assert_eq!(
            Spi::get_one::<bool>(
                "SELECT ssad.score_columns('rw2', ARRAY['c', 'b', 'a'], 0.5, 3.0, 1) = ssad_score('rw2', ROW(1, 3.0, 0.5)::t_rw2)"
            ),
            Ok(Some(true))
        );
    }

    #[pg_test]
    fn mixed_types_dropped_columns_partitions_and_wide_tables() {
        Spi::run(
            "CREATE TABLE t_rw3 (gone int, id int, cat text, ts timestamptz, flag boolean, x numeric)
               PARTITION BY RANGE (id);
             CREATE TABLE t_rw3_a PARTITION OF t_rw3 FOR VALUES FROM (0) TO (150);
             CREATE TABLE t_rw3_b PARTITION OF t_rw3 FOR VALUES FROM (150) TO (1000);
             INSERT INTO t_rw3 SELECT 0, i, 'k' || (i % 4), '2026-01-01'::timestamptz + i * interval '37 minutes',
                    i % 3 = 0, (i % 10) * 1.5 FROM generate_series(1, 300) i;
             ALTER TABLE t_rw3 DROP COLUMN gone;
             INSERT INTO t_rw3 VALUES (301, NULL, NULL, NULL, NULL);
             -- Long texts, compressed in line and stored out of line.
             INSERT INTO t_rw3 VALUES (302, repeat('k', 9000), NULL, true, 1.5),
               (303, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 300) g), NULL, false, 3);",
        )
        .ok();
        Spi::run(
            "SELECT ssad_train('rw3', 't_rw3', exclude => ARRAY['id'], options => '{\"seed\": 3}')",
        )
        .ok();
        assert!(plan("SELECT ssad_score('rw3', t) FROM t_rw3 t")
            .contains("'{id,cat,ts,flag,x}'::text[]"));
        let all = |from: &str| {
            text(&format!(
                "SELECT string_agg(ssad_score('rw3', t)::text, ',' ORDER BY t.id) FROM {from}"
            ))
        };
        let rewritten = all("t_rw3 t");
        assert!(rewritten
            .as_ref()
            .is_some_and(|s| s.split(',').count() == 303));
        assert_eq!(rewritten, all("(SELECT 1) d LEFT JOIN t_rw3 t ON true"));
        // More columns than a call takes arguments: the whole row, as written.
        let cols: Vec<String> = (0..120).map(|i| format!("(i * {i}) % 7 AS w{i}")).collect();
        Spi::run(&format!(
            "CREATE TABLE t_rw4 AS SELECT {} FROM generate_series(1, 200) i",
            cols.join(", ")
        ))
        .ok();
        Spi::run("SELECT ssad_train('rw4', 't_rw4', options => '{\"seed\": 3, \"epochs\": 2}')")
            .ok();
        assert!(!plan("SELECT ssad_score('rw4', t) FROM t_rw4 t").contains("score_columns"));
        assert_eq!(
            Spi::get_one::<i64>("SELECT count(ssad_score('rw4', t)) FROM t_rw4 t"),
            Ok(Some(200))
        );
    }
}
