//! ssad-eval: accuracy of ssad-core's default configuration on the shared
//! ADBench tables under protocol A (unsupervised) and B (one-class, 3 splits,
//! trained with the option `clean` unless `--options` sets it), next to the
//! nine classical baselines.
//!
//! Usage: ssad-eval [DATA_DIR] [--tables a,b,..] [--threads N] [--protocol A|B|AB]
//!                  [--csv OUT.csv] [--options JSON] [--teacher]
//!        ssad-eval [DATA_DIR] --report RUN.csv[,RUN2.csv..] [--protocol A|B|AB]
//!        ssad-eval [DATA_DIR] --compare BASE.csv[,..] CAND.csv[,..] [--protocol A|B|AB]
//!                  [--holdout HBASE.csv[,..] HCAND.csv[,..]] [--holdout-dir DIR] [--note TEXT]
//!
//! Every run ends each protocol with the cross-validation across tables and
//! the per-table deficits of `crossval.rs`. `--report` prints them again from
//! result CSVs written by `--csv` (several files, e.g. one per seed, are
//! averaged per table); `--compare` compares a candidate default with a
//! baseline run, on the shared tables and, with `--holdout`, on the tables of
//! `benches/holdout.sh` (built in `--holdout-dir`, default
//! `benches/results/holdout`).
//!
//! `--teacher`: also score every job's model with its exact network (the
//! distilled student removed) and report both side by side.

mod baselines;
mod crossval;
mod data;
mod run;
mod sweep;

use rayon::prelude::*;
use run::{Outcome, Protocol};
use ssad_core::TrainOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

struct Args {
    dir: PathBuf,
    tables: Option<Vec<String>>,
    threads: usize,
    protocols: String,
    csv: Option<PathBuf>,
    options: TrainOptions,
    sweep: bool,
    /// `--teacher`: compare with the exact network.
    teacher: bool,
    /// `--protocol` was given (the comparison then insists on its protocols).
    protocols_given: bool,
    /// `--report`: result CSVs to report on instead of running.
    report: Option<Vec<PathBuf>>,
    /// `--compare`: (baseline run, candidate run) result CSVs.
    compare: Option<(Vec<PathBuf>, Vec<PathBuf>)>,
    /// `--holdout`: (baseline run, candidate run) result CSVs on the holdout tables.
    holdout: Option<(Vec<PathBuf>, Vec<PathBuf>)>,
    holdout_dir: PathBuf,
    /// `--note`: why a widened worst deficit is worth it.
    note: Option<String>,
}

const USAGE: &str = "\
ssad-eval [DATA_DIR] [--tables a,b] [--threads N] [--protocol A|B|AB] [--csv OUT] [--options JSON] [--f16] [--teacher] [--sweep]
    train and score on the tables of DATA_DIR (default ../shared/datasets/adbench); each protocol ends
    with the cross-validation across tables (halves H1, H2 = alternate manifest entries) and the deficits;
    protocol B trains with the option clean (true) unless --options sets it
ssad-eval [DATA_DIR] --report RUN.csv[,RUN2.csv..] [--protocol A|B|AB]
    the same cross-validation and deficit report from result CSVs written by --csv (averaged per table)
ssad-eval [DATA_DIR] --compare BASE.csv[,..] CAND.csv[,..] [--protocol A|B|AB]
          [--holdout HBASE.csv[,..] HCAND.csv[,..]] [--holdout-dir DIR] [--note TEXT]
    compare a candidate run with a baseline run: differences of ssad's means on H1, H2 and all tables,
    the worst deficit's change, and the verdict (adopt only if it wins on both halves); --holdout adds
    the tables of benches/holdout.sh (in --holdout-dir, default benches/results/holdout); --note says
    why a worst deficit widened by more than 0.02 is worth it
";

/// A comma-separated list of files.
fn paths(v: &str) -> Vec<PathBuf> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dir: PathBuf::from("../shared/datasets/adbench"),
        tables: None,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        protocols: "AB".into(),
        csv: None,
        options: TrainOptions::default(),
        sweep: false,
        teacher: false,
        protocols_given: false,
        report: None,
        compare: None,
        holdout: None,
        holdout_dir: PathBuf::from("benches/results/holdout"),
        note: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--tables" => {
                a.tables = Some(val("--tables")?.split(',').map(str::to_string).collect())
            }
            "--threads" => {
                a.threads = val("--threads")?
                    .parse()
                    .map_err(|e| format!("--threads: {e}"))?
            }
            "--protocol" => {
                a.protocols = val("--protocol")?.to_uppercase();
                a.protocols_given = true;
            }
            "--report" => a.report = Some(paths(&val("--report")?)),
            "--compare" => a.compare = Some((paths(&val("--compare")?), paths(&val("--compare")?))),
            "--holdout" => a.holdout = Some((paths(&val("--holdout")?), paths(&val("--holdout")?))),
            "--holdout-dir" => a.holdout_dir = PathBuf::from(val("--holdout-dir")?),
            "--note" => a.note = Some(val("--note")?),
            "--sweep" => a.sweep = true,
            "--teacher" => a.teacher = true,
            "--f16" => run::F16_WEIGHTS.store(true, std::sync::atomic::Ordering::Relaxed),
            "--csv" => a.csv = Some(PathBuf::from(val("--csv")?)),
            "--options" => {
                a.options =
                    TrainOptions::from_json(&val("--options")?).map_err(|e| e.to_string())?
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => a.dir = PathBuf::from(s),
        }
    }
    Ok(a)
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("ssad-eval: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), String> {
    let args = parse_args()?;
    if args.compare.is_some() || args.report.is_some() {
        return report_main(&args);
    }
    let names: Vec<String> = data::manifest_names(&args.dir)?
        .into_iter()
        .filter(|n| {
            args.tables
                .as_ref()
                .is_none_or(|f| f.iter().any(|x| x.eq_ignore_ascii_case(n)))
        })
        .collect();
    if names.is_empty() {
        return Err("no table selected".into());
    }
    let pool = ssad_core::thread_pool(args.threads).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let tables: Vec<data::Table> = pool.install(|| {
        names
            .par_iter()
            .map(|n| data::load(&args.dir, n))
            .collect::<Result<_, _>>()
    })?;
    eprintln!(
        "loaded {} tables in {:.1}s",
        tables.len(),
        t0.elapsed().as_secs_f64()
    );
    let mut jobs: Vec<(usize, Protocol)> = Vec::new();
    for t in 0..tables.len() {
        if args.protocols.contains('A') {
            jobs.push((t, Protocol::A));
        }
        if args.protocols.contains('B') {
            jobs.extend((0..3).map(|s| (t, Protocol::B(s))));
        }
    }
    // Largest first so the pool stays busy at the end.
    jobs.sort_by_key(|&(t, _)| std::cmp::Reverse(tables[t].rows.len() * tables[t].n_features));
    let outcomes = run_jobs(
        &jobs,
        &tables,
        &args.options,
        args.threads,
        args.sweep,
        args.teacher,
    )?;
    eprintln!("evaluated in {:.1}s", t0.elapsed().as_secs_f64());
    let base = baselines::load(&args.dir)?;
    let order = data::manifest_names(&args.dir)?;
    let suite = crossval::Suite {
        order: &order,
        base: &base,
    };
    let mut ssad = crossval::Ssad::default();
    for o in &outcomes {
        let p = match o.protocol {
            Protocol::A => "A",
            Protocol::B(_) => "B",
        };
        ssad.add(p, &tables[o.table].name, o.auroc, o.auprc);
    }
    let mut report = String::new();
    for (proto, label) in [
        ("A", "protocol A (unsupervised)"),
        ("B", "protocol B (one-class, 3 splits)"),
    ] {
        if !args.protocols.contains(proto) {
            continue;
        }
        report += &per_table(proto, label, &tables, &outcomes, &base);
        report += &crossval::report(&suite, proto, &ssad);
    }
    if args.sweep {
        report += &sweep_report(&tables, &outcomes);
    }
    if args.teacher {
        report += &teacher_report(&tables, &outcomes);
    }
    print!("{report}");
    if let Some(path) = &args.csv {
        write_csv(path, &tables, &outcomes)?;
    }
    Ok(())
}

/// `--report` and `--compare`: the cross-validation figures from result CSVs,
/// without training.
fn report_main(args: &Args) -> Result<(), String> {
    let order = data::manifest_names(&args.dir)?;
    let base = baselines::load(&args.dir)?;
    let suite = crossval::Suite {
        order: &order,
        base: &base,
    };
    if let Some(files) = &args.report {
        let ssad = crossval::Ssad::from_csvs(files)?;
        let mut out = String::new();
        for p in ssad.protocols() {
            if args.protocols.contains(p.as_str()) {
                out += &crossval::report(&suite, &p, &ssad);
            }
        }
        print!("{out}");
        return Ok(());
    }
    let Some((old_files, new_files)) = &args.compare else {
        return Ok(());
    };
    let (old, new) = (
        crossval::Ssad::from_csvs(old_files)?,
        crossval::Ssad::from_csvs(new_files)?,
    );
    let (po, pn) = (old.protocols(), new.protocols());
    let protocols: Vec<String> = if args.protocols_given {
        let asked: Vec<String> = ["A", "B"]
            .into_iter()
            .filter(|p| args.protocols.contains(p))
            .map(String::from)
            .collect();
        if let Some(p) = asked.iter().find(|p| !po.contains(p) || !pn.contains(p)) {
            return Err(format!("protocol {p} is not in both runs"));
        }
        asked
    } else {
        po.into_iter().filter(|p| pn.contains(p)).collect()
    };
    if protocols.is_empty() {
        return Err("the two runs have no protocol in common".into());
    }
    let holdout_data = match &args.holdout {
        Some((hb, hc)) => Some((
            data::manifest_names(&args.holdout_dir)?,
            baselines::load(&args.holdout_dir)?,
            crossval::Ssad::from_csvs(hb)?,
            crossval::Ssad::from_csvs(hc)?,
        )),
        None => None,
    };
    let holdout = holdout_data
        .as_ref()
        .map(|(order, base, old, new)| crossval::Holdout {
            suite: crossval::Suite { order, base },
            old,
            new,
        });
    let (text, _) = crossval::compare(
        &suite,
        &protocols,
        &old,
        &new,
        holdout.as_ref(),
        args.note.as_deref(),
    );
    print!("{text}");
    Ok(())
}

/// Run the jobs on plain threads, each training in its own one-thread pool:
/// nesting rayon pools would let a waiting job steal another and skew timings.
fn run_jobs(
    jobs: &[(usize, Protocol)],
    tables: &[data::Table],
    opts: &TrainOptions,
    threads: usize,
    sweep: bool,
    teacher: bool,
) -> Result<Vec<Outcome>, String> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Vec<Result<Outcome, String>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                sc.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(t, p)) = jobs.get(i) else { break };
                        done.push(run::run(&tables[t], t, p, opts, sweep, teacher));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err("worker panicked".into())])
            })
            .collect()
    });
    results.into_iter().flatten().collect()
}

/// Mean AUROC/AUPRC of every sweep variant per protocol, and per-table AUROC.
fn sweep_report(tables: &[data::Table], outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for proto in ["A", "B"] {
        let mine: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    (o.protocol, proto),
                    (Protocol::A, "A") | (Protocol::B(_), "B")
                )
            })
            .collect();
        if mine.is_empty() {
            continue;
        }
        out += &format!("\n== sweep {proto}\n{:<12}", "table");
        for v in sweep::VARIANTS {
            out += &format!(" {:>10}", v.0);
        }
        out += "\n";
        let mut means = vec![(0.0, 0.0); sweep::VARIANTS.len()];
        let mut n = 0.0;
        for (ti, t) in tables.iter().enumerate() {
            let rows: Vec<&&Outcome> = mine.iter().filter(|o| o.table == ti).collect();
            if rows.is_empty() {
                continue;
            }
            n += 1.0;
            out += &format!("{:<12}", t.name);
            for (vi, m) in means.iter_mut().enumerate() {
                let a = mean(rows.iter().map(|o| o.variants[vi].1));
                let p = mean(rows.iter().map(|o| o.variants[vi].2));
                m.0 += a;
                m.1 += p;
                out += &format!(" {:>10.4}", a);
            }
            out += "\n";
        }
        out += &format!("{:<12}", "MEAN AUROC");
        for m in &means {
            out += &format!(" {:>10.4}", m.0 / n);
        }
        out += &format!("\n{:<12}", "MEAN AUPRC");
        for m in &means {
            out += &format!(" {:>10.4}", m.1 / n);
        }
        out += "\n";
    }
    out
}

/// `--teacher`, per protocol: per-table AUROC of the exact network and of the
/// default (hybrid) scoring, then the means and the cost of each.
fn teacher_report(tables: &[data::Table], outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    for proto in ["A", "B"] {
        let mine: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                o.teacher.is_some()
                    && matches!(
                        (o.protocol, proto),
                        (Protocol::A, "A") | (Protocol::B(_), "B")
                    )
            })
            .collect();
        if mine.is_empty() {
            continue;
        }
        out += &format!(
            "\n== teacher vs default {proto}: AUROC\n{:<12} {:>8} {:>8} {:>8}\n",
            "table", "teacher", "default", "Spearman"
        );
        let mut n = 0.0;
        let mut acc = [0.0f64; 7];
        for (ti, t) in tables.iter().enumerate() {
            let rows: Vec<&&Outcome> = mine.iter().filter(|o| o.table == ti).collect();
            if rows.is_empty() {
                continue;
            }
            n += 1.0;
            let tget = |f: &dyn Fn(&run::TeacherOutcome) -> f64| {
                mean(rows.iter().filter_map(|o| o.teacher.as_ref()).map(f))
            };
            let (ta, ha, sp) = (
                tget(&|x| x.auroc),
                mean(rows.iter().map(|o| o.auroc)),
                tget(&|x| x.spearman),
            );
            acc[0] += ta;
            acc[1] += tget(&|x| x.auprc);
            acc[2] += tget(&|x| x.flops);
            acc[3] += ha;
            acc[4] += mean(rows.iter().map(|o| o.auprc));
            acc[5] += mean(rows.iter().map(|o| o.flops));
            acc[6] += sp;
            out += &format!("{:<12} {:>8.4} {:>8.4} {:>8.3}\n", t.name, ta, ha, sp);
        }
        out += &format!(
            "means {proto} over {n} tables:\n{:<10} {:>7} {:>7} {:>10}\n",
            "model", "AUROC", "AUPRC", "MFLOP/row"
        );
        out += &format!(
            "{:<10} {:>7.4} {:>7.4} {:>10.4}\n{:<10} {:>7.4} {:>7.4} {:>10.4}  (Spearman vs teacher {:.4})\n",
            "teacher",
            acc[0] / n,
            acc[1] / n,
            acc[2] / n / 1e6,
            "default",
            acc[3] / n,
            acc[4] / n,
            acc[5] / n / 1e6,
            acc[6] / n
        );
    }
    out
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

/// Per-table figures of one protocol (B: mean over the splits) and the leaderboard.
fn per_table(
    proto: &str,
    label: &str,
    tables: &[data::Table],
    outcomes: &[Outcome],
    base: &baselines::Baselines,
) -> String {
    let mut out = format!(
        "\n== {label}\n{:<12} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8}\n",
        "table", "rows", "d", "AUROC", "AUPRC", "IF_AUROC", "best_bl", "train_s"
    );
    let mut flops = Vec::new();
    let mut ssad = baselines::Row {
        name: "ssad".into(),
        auroc: vec![],
        auprc: vec![],
    };
    let mut others: Vec<baselines::Row> = base
        .detectors
        .iter()
        .map(|d| baselines::Row {
            name: d.clone(),
            auroc: vec![],
            auprc: vec![],
        })
        .collect();
    for (ti, t) in tables.iter().enumerate() {
        let mine: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                o.table == ti
                    && matches!(
                        (o.protocol, proto),
                        (Protocol::A, "A") | (Protocol::B(_), "B")
                    )
            })
            .collect();
        let (a, p) = (
            mean(mine.iter().map(|o| o.auroc)),
            mean(mine.iter().map(|o| o.auprc)),
        );
        let train_s = mean(mine.iter().map(|o| o.train_s));
        flops.push(mean(mine.iter().map(|o| o.flops)));
        ssad.auroc.push(a);
        ssad.auprc.push(p);
        let mut best = f64::NAN;
        for r in others.iter_mut() {
            let key = (proto.to_string(), t.name.clone(), r.name.clone());
            let (ba, bp) = base
                .values
                .get(&key)
                .copied()
                .unwrap_or((f64::NAN, f64::NAN));
            r.auroc.push(ba);
            r.auprc.push(bp);
            if best.is_nan() || ba > best {
                best = ba;
            }
        }
        let iforest = base
            .values
            .get(&(proto.to_string(), t.name.clone(), "IForest".into()))
            .map_or(f64::NAN, |v| v.0);
        out += &format!(
            "{:<12} {:>7} {:>7} {:>7.4} {:>7.4} {:>8.4} {:>8.4} {:>8.2}{}\n",
            t.name,
            t.rows.len(),
            t.n_features,
            a,
            p,
            iforest,
            best,
            train_s,
            if a < iforest - 0.10 {
                "  << >0.10 below IForest"
            } else {
                ""
            }
        );
    }
    others.push(ssad);
    out += &format!(
        "scoring cost: mean {:.3} MFLOP/row (min {:.3}, max {:.3})\n",
        mean(flops.iter().copied()) / 1e6,
        flops.iter().copied().fold(f64::INFINITY, f64::min) / 1e6,
        flops.iter().copied().fold(0.0, f64::max) / 1e6
    );
    out + &baselines::leaderboard(&format!("leaderboard {proto}"), &others)
}

fn write_csv(path: &PathBuf, tables: &[data::Table], outcomes: &[Outcome]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::from("protocol,split,dataset,n_rows,n_features,train_rows,scored_rows,auroc,auprc,train_s,score_s\n");
    for o in outcomes {
        let t = &tables[o.table];
        let (p, s) = match o.protocol {
            Protocol::A => ("A", String::new()),
            Protocol::B(seed) => ("B", seed.to_string()),
        };
        text += &format!(
            "{p},{s},{},{},{},{},{},{:.6},{:.6},{:.3},{:.3}\n",
            t.name,
            t.rows.len(),
            t.n_features,
            o.train_rows,
            o.scored_rows,
            o.auroc,
            o.auprc,
            o.train_s,
            o.score_s
        );
    }
    f.write_all(text.as_bytes()).map_err(|e| e.to_string())
}
