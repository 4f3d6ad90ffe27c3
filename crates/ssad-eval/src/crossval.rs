//! Cross-validation across tables and per-table deficits.
//!
//! The shared tables are split into two fixed halves by their place in
//! `manifest.json`: entries 0, 2, 4, .. are half H1 and 1, 3, 5, .. half H2.
//! A default tuned on all the tables can flatter itself; one that raises the
//! mean on both halves, each of which could have been held out, is less
//! likely to have fitted a few tables. For one protocol the report gives the
//! mean AUROC and AUPRC of ssad and of every baseline on H1, H2 and all
//! tables with ssad's rank, and per table the deficit of ssad to the best
//! baseline (best baseline AUROC minus ssad's, positive = ssad behind) with
//! the five worst. The comparison of two runs (a baseline and a candidate,
//! read back from the harness's `--csv` files) gives the differences of the
//! means per half, how the worst deficit moved, and a verdict.

use crate::baselines::{ranks, Baselines};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How far a change may widen the worst deficit of a protocol without a note
/// saying why it is worth it.
pub const WORST_DEFICIT_SLACK: f64 = 0.02;

/// How many of the worst deficits are listed.
const N_WORST: usize = 5;

/// Group names: the two halves and all tables.
const GROUPS: [&str; 3] = ["H1", "H2", "all"];

/// The half (0 = H1, 1 = H2) of a table at `manifest_index`.
pub fn half(manifest_index: usize) -> usize {
    manifest_index % 2
}

/// ssad's figures per (protocol, table): the mean AUROC and AUPRC of the jobs
/// recorded (protocol B: over its splits; several CSV files, e.g. one per
/// seed: over all of them).
#[derive(Default)]
pub struct Ssad {
    sums: BTreeMap<(String, String), (f64, f64, usize)>,
}

impl Ssad {
    pub fn add(&mut self, protocol: &str, table: &str, auroc: f64, auprc: f64) {
        let e = self
            .sums
            .entry((protocol.to_string(), table.to_string()))
            .or_insert((0.0, 0.0, 0));
        e.0 += auroc;
        e.1 += auprc;
        e.2 += 1;
    }

    /// Mean (AUROC, AUPRC) of a table in a protocol, if it was run.
    pub fn get(&self, protocol: &str, table: &str) -> Option<(f64, f64)> {
        self.sums
            .get(&(protocol.to_string(), table.to_string()))
            .map(|&(a, p, n)| (a / n as f64, p / n as f64))
    }

    /// The protocols with at least one table, in order.
    pub fn protocols(&self) -> Vec<String> {
        let mut v: Vec<String> = self.sums.keys().map(|k| k.0.clone()).collect();
        v.dedup();
        v
    }

    /// Read the result CSVs written by the harness's `--csv` (columns
    /// `protocol`, `dataset`, `auroc`, `auprc`; the others are ignored).
    pub fn from_csvs(paths: &[PathBuf]) -> Result<Self, String> {
        let mut s = Ssad::default();
        for path in paths {
            let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
            let mut rdr = csv::Reader::from_path(path).map_err(|e| err(&e))?;
            let header = rdr.headers().map_err(|e| err(&e))?.clone();
            let col = |n: &str| {
                header
                    .iter()
                    .position(|h| h == n)
                    .ok_or_else(|| format!("{}: no column {n}", path.display()))
            };
            let (cp, cd, ca, cr) = (
                col("protocol")?,
                col("dataset")?,
                col("auroc")?,
                col("auprc")?,
            );
            for rec in rdr.records() {
                let rec = rec.map_err(|e| err(&e))?;
                let field = |c: usize| rec.get(c).unwrap_or("");
                let num = |c: usize| {
                    field(c)
                        .parse::<f64>()
                        .map_err(|e| format!("{}: {} {e}", path.display(), field(c)))
                };
                s.add(field(cp), field(cd), num(ca)?, num(cr)?);
            }
        }
        if s.sums.is_empty() {
            return Err("no result rows in the CSV files given".into());
        }
        Ok(s)
    }
}

/// One table of a protocol: its half, ssad's figures and the best baseline.
pub struct TableFig {
    pub name: String,
    pub half: usize,
    pub auroc: f64,
    pub auprc: f64,
    pub best_name: String,
    pub best_auroc: f64,
}

impl TableFig {
    /// Best baseline AUROC minus ssad's: positive = ssad behind.
    pub fn deficit(&self) -> f64 {
        self.best_auroc - self.auroc
    }
}

/// A set of tables: names in manifest order and the baselines' figures.
pub struct Suite<'a> {
    pub order: &'a [String],
    pub base: &'a Baselines,
}

impl Suite<'_> {
    /// The tables of `protocol` that ssad was run on, in manifest order.
    pub fn tables(&self, protocol: &str, ssad: &Ssad) -> Vec<TableFig> {
        self.order
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let (auroc, auprc) = ssad.get(protocol, name)?;
                let mut best = (String::from("-"), f64::NAN);
                for d in &self.base.detectors {
                    let key = (protocol.to_string(), name.clone(), d.clone());
                    if let Some(&(a, _)) = self.base.values.get(&key) {
                        if a.is_finite() && (best.1.is_nan() || a > best.1) {
                            best = (d.clone(), a);
                        }
                    }
                }
                Some(TableFig {
                    name: name.clone(),
                    half: half(i),
                    auroc,
                    auprc,
                    best_name: best.0,
                    best_auroc: best.1,
                })
            })
            .collect()
    }

    /// Means over the tables of a group (0 = H1, 1 = H2, 2 = all).
    fn group(&self, protocol: &str, figs: &[TableFig], g: usize) -> Group {
        let members: Vec<&TableFig> = figs.iter().filter(|f| g == 2 || f.half == g).collect();
        let n = members.len();
        let mut detectors = vec![(
            "ssad".to_string(),
            mean(members.iter().map(|f| f.auroc)),
            mean(members.iter().map(|f| f.auprc)),
        )];
        for d in &self.base.detectors {
            let vals: Vec<(f64, f64)> = members
                .iter()
                .filter_map(|f| {
                    let key = (protocol.to_string(), f.name.clone(), d.clone());
                    self.base.values.get(&key).copied()
                })
                .filter(|v| v.0.is_finite() && v.1.is_finite())
                .collect();
            // A detector counts only where it has figures for every table.
            if n > 0 && vals.len() == n {
                detectors.push((
                    d.clone(),
                    mean(vals.iter().map(|v| v.0)),
                    mean(vals.iter().map(|v| v.1)),
                ));
            }
        }
        let ra = ranks(&detectors.iter().map(|d| d.1).collect::<Vec<_>>());
        let rp = ranks(&detectors.iter().map(|d| d.2).collect::<Vec<_>>());
        Group {
            n,
            rank_auroc: ra[0],
            rank_auprc: rp[0],
            detectors,
        }
    }
}

/// Means of one group of tables.
struct Group {
    n: usize,
    /// (detector, mean AUROC, mean AUPRC); ssad first.
    detectors: Vec<(String, f64, f64)>,
    /// ssad's mid-rank (1 = best) by mean AUROC and by mean AUPRC.
    rank_auroc: f64,
    rank_auprc: f64,
}

impl Group {
    fn ssad(&self) -> (f64, f64) {
        (self.detectors[0].1, self.detectors[0].2)
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// A rank as an integer when it is one (ties give halves).
fn fmt_rank(r: f64) -> String {
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// The tables of `figs` with the largest deficits, worst first.
fn worst(figs: &[TableFig], n: usize) -> Vec<&TableFig> {
    let mut v: Vec<&TableFig> = figs.iter().filter(|f| f.deficit().is_finite()).collect();
    v.sort_by(|a, b| b.deficit().total_cmp(&a.deficit()));
    v.truncate(n);
    v
}

/// The cross-validation and deficit report of one protocol.
pub fn report(suite: &Suite, protocol: &str, ssad: &Ssad) -> String {
    let figs = suite.tables(protocol, ssad);
    if figs.is_empty() {
        return String::new();
    }
    let groups: Vec<Group> = (0..3).map(|g| suite.group(protocol, &figs, g)).collect();
    let mut out = format!(
        "\n== cross-validation across tables, protocol {protocol}: H1 = manifest entries 0,2,4,.. ({} tables), H2 = 1,3,5,.. ({}), all ({})\n{:<10}",
        groups[0].n, groups[1].n, groups[2].n, "detector"
    );
    for g in GROUPS {
        out += &format!(" {:>9} {:>9}", format!("{g} AUROC"), format!("{g} AUPRC"));
    }
    out += "\n";
    // Rows in the order of the mean AUROC on all tables; a detector missing
    // from a half (no figures for one of its tables) shows a dash there.
    let mut names: Vec<(String, f64)> = groups[2]
        .detectors
        .iter()
        .map(|d| (d.0.clone(), d.1))
        .collect();
    names.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (name, _) in &names {
        out += &format!("{name:<10}");
        for g in &groups {
            match g.detectors.iter().find(|d| &d.0 == name) {
                Some(d) => out += &format!(" {:>9.4} {:>9.4}", d.1, d.2),
                None => out += &format!(" {:>9} {:>9}", "-", "-"),
            }
        }
        out += "\n";
    }
    let rank_line = |f: &dyn Fn(&Group) -> f64| {
        GROUPS
            .iter()
            .zip(&groups)
            .map(|(name, g)| format!("{name} {} of {}", fmt_rank(f(g)), g.detectors.len()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out += &format!(
        "rank of ssad by mean AUROC: {}; by mean AUPRC: {}\n",
        rank_line(&|g| g.rank_auroc),
        rank_line(&|g| g.rank_auprc)
    );
    out += &format!(
        "\n== deficit to the best baseline, protocol {protocol} (best baseline AUROC - ssad AUROC; positive = ssad behind)\n{:<12} {:>4} {:>7} {:>7} {:<8} {:>8}\n",
        "table", "half", "ssad", "best", "best_bl", "deficit"
    );
    for f in &figs {
        out += &format!(
            "{:<12} {:>4} {:>7.4} {:>7.4} {:<8} {:>+8.4}\n",
            f.name,
            GROUPS[f.half],
            f.auroc,
            f.best_auroc,
            f.best_name,
            f.deficit()
        );
    }
    out += &format!(
        "five worst deficits {protocol}: {}\n",
        worst(&figs, N_WORST)
            .iter()
            .map(|f| format!("{} {:+.4} ({})", f.name, f.deficit(), f.best_name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

/// The holdout tables of `benches/holdout.sh` in a comparison: their suite
/// and the two runs on them.
pub struct Holdout<'a> {
    pub suite: Suite<'a>,
    pub old: &'a Ssad,
    pub new: &'a Ssad,
}

/// What a comparison found, for the verdict.
#[derive(Default, Debug, PartialEq)]
pub struct Findings {
    /// Per protocol compared: (protocol, AUROC difference on H1, on H2).
    pub halves: Vec<(String, f64, f64)>,
    /// (where, widening) of each worst deficit that widened by more than the slack.
    pub widened: Vec<(String, f64)>,
    /// Protocols asked with no table run on both sides.
    pub empty: Vec<String>,
}

impl Findings {
    /// Adopt only if the candidate wins on both halves in every protocol
    /// compared, and any worst deficit widened beyond the slack has a note.
    pub fn adopt(&self, noted: bool) -> bool {
        !self.halves.is_empty()
            && self.empty.is_empty()
            && self.halves.iter().all(|h| h.1 > 0.0 && h.2 > 0.0)
            && (noted || self.widened.is_empty())
    }

    /// Why not, for the verdict line.
    fn reasons(&self, noted: bool) -> Vec<String> {
        let mut r: Vec<String> = self
            .halves
            .iter()
            .flat_map(|(p, h1, h2)| {
                [("H1", h1), ("H2", h2)]
                    .into_iter()
                    .filter(|(_, d)| d.is_nan() || **d <= 0.0)
                    .map(move |(h, d)| format!("{p} {h} {d:+.4}"))
            })
            .collect();
        if !noted {
            r.extend(
                self.widened
                    .iter()
                    .map(|(w, d)| format!("{w} worst deficit {d:+.4} without a note")),
            );
        }
        r.extend(
            self.empty
                .iter()
                .map(|p| format!("{p}: no table run on both sides")),
        );
        r
    }
}

/// One line of the comparison table: a group's means in both runs.
fn compare_line(label: &str, old: &Group, new: &Group) -> String {
    let (oa, op) = old.ssad();
    let (na, np) = new.ssad();
    format!(
        "{:<8} {:>6} {:>8.4} {:>8.4} {:>+8.4} {:>8.4} {:>8.4} {:>+8.4} {:>14}\n",
        label,
        new.n,
        oa,
        na,
        na - oa,
        op,
        np,
        np - op,
        format!(
            "{} -> {} of {}",
            fmt_rank(old.rank_auroc),
            fmt_rank(new.rank_auroc),
            new.detectors.len()
        )
    )
}

/// How the worst deficit of a protocol moved; returns the text and the change.
fn worst_change(label: &str, old: &[TableFig], new: &[TableFig]) -> (String, f64) {
    let (Some(o), Some(n)) = (
        worst(old, 1).first().copied(),
        worst(new, 1).first().copied(),
    ) else {
        return (String::new(), 0.0);
    };
    let change = n.deficit() - o.deficit();
    let mut out = format!(
        "worst deficit {label}: {} {:+.4} ({}) -> {} {:+.4} ({}): {} by {:.4}\n",
        o.name,
        o.deficit(),
        o.best_name,
        n.name,
        n.deficit(),
        n.best_name,
        if change > 0.0 { "widened" } else { "narrowed" },
        change.abs()
    );
    out += &format!(
        "five worst deficits {label} (candidate, baseline run in brackets): {}\n",
        worst(new, N_WORST)
            .iter()
            .map(|f| {
                let was = old
                    .iter()
                    .find(|x| x.name == f.name)
                    .map_or(String::from("-"), |x| format!("{:+.4}", x.deficit()));
                format!("{} {:+.4} [{was}]", f.name, f.deficit())
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    (out, change)
}

/// Only the tables present in both runs of a protocol are compared.
fn common(old: Vec<TableFig>, new: Vec<TableFig>) -> (Vec<TableFig>, Vec<TableFig>, usize) {
    let in_both = |f: &TableFig, other: &[TableFig]| other.iter().any(|x| x.name == f.name);
    let dropped = old.iter().filter(|f| !in_both(f, &new)).count()
        + new.iter().filter(|f| !in_both(f, &old)).count();
    let o: Vec<TableFig> = old.into_iter().filter(|f| in_both(f, &new)).collect();
    let n: Vec<TableFig> = new.into_iter().filter(|f| in_both(f, &o)).collect();
    (o, n, dropped)
}

/// Compare a candidate run (`new`) with a baseline run (`old`) on the shared
/// tables for each protocol of `protocols`, and on the holdout tables when
/// given. Returns the report and the findings behind its verdict.
pub fn compare(
    suite: &Suite,
    protocols: &[String],
    old: &Ssad,
    new: &Ssad,
    holdout: Option<&Holdout>,
    note: Option<&str>,
) -> (String, Findings) {
    let mut out = String::new();
    let mut found = Findings::default();
    let header = format!(
        "{:<8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>14}\n",
        "group", "tables", "AUROC", "AUROC", "diff", "AUPRC", "AUPRC", "diff", "ssad rank"
    );
    let sub = format!(
        "{:<8} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>14}\n",
        "", "", "baseline", "cand.", "", "baseline", "cand.", "", "(AUROC)"
    );
    for p in protocols {
        let (o, n, dropped) = common(suite.tables(p, old), suite.tables(p, new));
        out += &format!("\n== compare, protocol {p}: candidate - baseline run, ssad's means\n");
        if dropped > 0 {
            out += &format!("({dropped} tables run on one side only are left out)\n");
        }
        if o.is_empty() {
            out += "no table of this data directory was run on both sides\n";
            found.empty.push(p.clone());
            continue;
        }
        out += &header;
        out += &sub;
        let go: Vec<Group> = (0..3).map(|g| suite.group(p, &o, g)).collect();
        let gn: Vec<Group> = (0..3).map(|g| suite.group(p, &n, g)).collect();
        for g in 0..3 {
            out += &compare_line(GROUPS[g], &go[g], &gn[g]);
        }
        found.halves.push((
            p.clone(),
            gn[0].ssad().0 - go[0].ssad().0,
            gn[1].ssad().0 - go[1].ssad().0,
        ));
        let (text, change) = worst_change(p, &o, &n);
        out += &text;
        if change > WORST_DEFICIT_SLACK {
            found.widened.push((p.clone(), change));
            out += &widen_warning(p, change, note);
        }
    }
    if let Some(h) = holdout {
        for p in h.old.protocols() {
            let (o, n, dropped) = common(h.suite.tables(&p, h.old), h.suite.tables(&p, h.new));
            if o.is_empty() {
                continue;
            }
            out += &format!(
                "\n== compare, holdout tables (benches/holdout.sh), protocol {p}: candidate - baseline run\n"
            );
            if dropped > 0 {
                out += &format!("({dropped} tables run on one side only are left out)\n");
            }
            out += &header;
            out += &sub;
            let (go, gn) = (h.suite.group(&p, &o, 2), h.suite.group(&p, &n, 2));
            out += &compare_line("holdout", &go, &gn);
            let diff = gn.ssad().0 - go.ssad().0;
            if diff < 0.0 {
                out += &format!(
                    "WARNING: holdout {p} mean AUROC falls by {:.4}: the change may fit the shared tables\n",
                    -diff
                );
            }
            let label = format!("holdout {p}");
            let (text, change) = worst_change(&label, &o, &n);
            out += &text;
            if change > WORST_DEFICIT_SLACK {
                found.widened.push((label.clone(), change));
                out += &widen_warning(&label, change, note);
            }
        }
    }
    let noted = note.is_some();
    out += &format!(
        "\nrule: adopt only if it wins on both halves (mean AUROC higher on H1 and on H2 in each protocol compared: {}); a worst deficit widened by more than {WORST_DEFICIT_SLACK} needs a --note saying why\n",
        protocols.join(", ")
    );
    if found.adopt(noted) {
        out += "verdict: adopt\n";
    } else {
        out += &format!(
            "verdict: do not adopt ({})\n",
            found.reasons(noted).join("; ")
        );
    }
    (out, found)
}

fn widen_warning(label: &str, change: f64, note: Option<&str>) -> String {
    match note {
        Some(n) => format!(
            "WARNING: the worst deficit of {label} widens by {change:.4} (more than {WORST_DEFICIT_SLACK}); note: {n}\n"
        ),
        None => format!(
            "WARNING: the worst deficit of {label} widens by {change:.4} (more than {WORST_DEFICIT_SLACK}) and no --note says why it is worth it\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four tables t0..t3 (H1 = t0, t2; H2 = t1, t3) and two baselines.
    fn base() -> (Vec<String>, Baselines) {
        let order: Vec<String> = (0..4).map(|i| format!("t{i}")).collect();
        let mut values = BTreeMap::new();
        let b = [("X", [0.9, 0.6, 0.7, 0.8]), ("Y", [0.5, 0.8, 0.75, 0.6])];
        for (d, v) in b {
            for (t, a) in order.iter().zip(v) {
                values.insert(("A".to_string(), t.clone(), d.to_string()), (a, a / 2.0));
            }
        }
        (
            order,
            Baselines {
                detectors: vec!["X".into(), "Y".into()],
                values,
            },
        )
    }

    fn run(aurocs: [f64; 4]) -> Ssad {
        let mut s = Ssad::default();
        for (i, a) in aurocs.into_iter().enumerate() {
            // Two jobs per table, as two seeds would give: the mean counts.
            s.add("A", &format!("t{i}"), a - 0.01, 0.3);
            s.add("A", &format!("t{i}"), a + 0.01, 0.5);
        }
        s
    }

    #[test]
    fn halves_alternate_manifest_entries() {
        assert_eq!((0..6).map(half).collect::<Vec<_>>(), [0, 1, 0, 1, 0, 1]);
    }

    #[test]
    fn means_ranks_and_deficits() {
        let (order, b) = base();
        let suite = Suite {
            order: &order,
            base: &b,
        };
        let s = run([0.8, 0.9, 0.95, 0.72]);
        let figs = suite.tables("A", &s);
        assert_eq!(figs.len(), 4);
        assert!((figs[0].auroc - 0.8).abs() < 1e-12);
        assert!((figs[0].auprc - 0.4).abs() < 1e-12);
        assert_eq!(figs[0].best_name, "X");
        assert!((figs[0].deficit() - 0.1).abs() < 1e-12);
        assert!((figs[3].deficit() - 0.08).abs() < 1e-12);
        assert!((figs[2].deficit() + 0.2).abs() < 1e-12);
        let h1 = suite.group("A", &figs, 0);
        assert_eq!(h1.n, 2);
        // ssad 0.875 against X 0.8 and Y 0.625 on H1.
        assert!((h1.ssad().0 - 0.875).abs() < 1e-12);
        assert_eq!(h1.rank_auroc, 1.0);
        let h2 = suite.group("A", &figs, 1);
        // ssad 0.81 against X 0.7 and Y 0.7 on H2.
        assert_eq!(h2.rank_auroc, 1.0);
        // AUPRC: ssad 0.4; X 0.35, Y 0.35 on H2.
        assert_eq!(h2.rank_auprc, 1.0);
        let r = report(&suite, "A", &s);
        assert!(r.contains("five worst deficits A: t0 +0.1000 (X), t3 +0.0800 (X), t1 -0.1000 (Y), t2 -0.2000 (Y)"), "{r}");
        assert!(
            r.contains("by mean AUROC: H1 1 of 3, H2 1 of 3, all 1 of 3"),
            "{r}"
        );
    }

    #[test]
    fn verdict_needs_both_halves() {
        let (order, b) = base();
        let suite = Suite {
            order: &order,
            base: &b,
        };
        let old = run([0.8, 0.9, 0.95, 0.7]);
        let protos = vec!["A".to_string()];
        // Better on H1 (t0) and on H2 (t3).
        let (text, f) = compare(
            &suite,
            &protos,
            &old,
            &run([0.82, 0.9, 0.95, 0.71]),
            None,
            None,
        );
        assert!(f.adopt(false), "{text}");
        assert!(text.contains("verdict: adopt\n"));
        assert!(text.contains("rule: adopt only if it wins on both halves"));
        // Better overall, but worse on H2.
        let (text, f) = compare(
            &suite,
            &protos,
            &old,
            &run([0.9, 0.9, 0.95, 0.69]),
            None,
            None,
        );
        assert!(!f.adopt(false));
        assert!(
            text.contains("verdict: do not adopt (A H2 -0.0050)"),
            "{text}"
        );
    }

    #[test]
    fn widened_worst_deficit_warns_and_needs_a_note() {
        let (order, b) = base();
        let suite = Suite {
            order: &order,
            base: &b,
        };
        let old = run([0.8, 0.9, 0.95, 0.7]);
        // Wins on both halves, but t0's deficit goes from 0.10 to 0.13.
        let new = run([0.77, 0.95, 1.0, 0.75]);
        let protos = vec!["A".to_string()];
        let (text, f) = compare(&suite, &protos, &old, &new, None, None);
        assert_eq!(f.widened.len(), 1);
        assert!(
            text.contains("WARNING: the worst deficit of A widens by 0.0300"),
            "{text}"
        );
        assert!(text.contains("no --note"));
        assert!(!f.adopt(false));
        assert!(
            text.contains("A worst deficit +0.0300 without a note"),
            "{text}"
        );
        let (text, f) = compare(&suite, &protos, &old, &new, None, Some("t0 is a duplicate"));
        assert!(f.adopt(true));
        assert!(text.contains("note: t0 is a duplicate"), "{text}");
        assert!(text.contains("verdict: adopt\n"));
    }

    #[test]
    fn holdout_is_compared_and_warns_when_it_falls() {
        let (order, b) = base();
        let suite = Suite {
            order: &order,
            base: &b,
        };
        let old = run([0.8, 0.9, 0.95, 0.7]);
        let new = run([0.82, 0.9, 0.95, 0.71]);
        let (ho, hn) = (run([0.9, 0.9, 0.9, 0.9]), run([0.9, 0.85, 0.9, 0.9]));
        let h = Holdout {
            suite: Suite {
                order: &order,
                base: &b,
            },
            old: &ho,
            new: &hn,
        };
        let (text, f) = compare(&suite, &["A".to_string()], &old, &new, Some(&h), None);
        assert!(text.contains("holdout tables"), "{text}");
        assert!(
            text.contains("WARNING: holdout A mean AUROC falls by 0.0125"),
            "{text}"
        );
        assert!(f.adopt(false));
    }

    #[test]
    fn no_table_on_both_sides_is_no_verdict() {
        let (order, b) = base();
        let suite = Suite {
            order: &order,
            base: &b,
        };
        let mut other = Ssad::default();
        other.add("A", "elsewhere", 0.99, 0.9);
        let (text, f) = compare(
            &suite,
            &["A".to_string()],
            &run([0.8; 4]),
            &other,
            None,
            None,
        );
        assert!(!f.adopt(true));
        assert!(text.contains("A: no table run on both sides"), "{text}");
    }

    #[test]
    fn reads_the_harness_csv() {
        let dir = std::env::temp_dir().join(format!("ssad-eval-crossval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("run.csv");
        std::fs::write(
            &path,
            "protocol,split,dataset,n_rows,n_features,train_rows,scored_rows,auroc,auprc,train_s,score_s\n\
             A,,t0,10,2,10,10,0.800000,0.400000,0.1,0.1\n\
             B,0,t0,10,2,4,6,0.900000,0.500000,0.1,0.1\n\
             B,1,t0,10,2,4,6,0.700000,0.300000,0.1,0.1\n",
        )
        .expect("write csv");
        let s = Ssad::from_csvs(&[path]).expect("read csv");
        assert_eq!(s.protocols(), ["A", "B"]);
        let (a, p) = s.get("B", "t0").expect("B t0");
        assert!((a - 0.8).abs() < 1e-12 && (p - 0.4).abs() < 1e-12);
        assert_eq!(s.get("A", "t1"), None);
        std::fs::remove_dir_all(&dir).ok();
    }
}
