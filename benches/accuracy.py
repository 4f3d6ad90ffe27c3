#!/usr/bin/env python3
"""Accuracy benchmark through the SQL functions.

Runs both protocols of shared/datasets/adbench/README.md on every shared table
against a running cluster with ssad installed (see accuracy.sh, which starts
one): protocol A trains on all rows without the label and scores all rows;
protocol B trains on a random half of the normal rows (3 seeds) with the
one-class option `clean` (its training rows are all normal; --no-clean trains
with the default, the contaminated-table behaviour) and scores the other half
plus every anomaly. Writes per-table AUROC/AUPRC to a CSV and prints
the means and ranks next to the nine baselines in baselines.csv.

Only the standard library: psql does the talking.
"""
import argparse, csv, gzip, json, os, subprocess, sys, time
from collections import defaultdict


def psql(sql, db):
    r = subprocess.run(["psql", "-X", "-q", "-At", "-F", ",", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}\n{sql[:400]}")
    return r.stdout


def auroc(scores, labels):
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    pos = sum(labels); neg = len(labels) - pos
    rank_sum, i = 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2 + 1
        rank_sum += mid * sum(labels[k] for k in order[i:j + 1])
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def auprc(scores, labels):
    """Average precision as scikit-learn computes it (ties form one threshold)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    pos = sum(labels)
    tp = fp = 0
    ap, prev_recall, i = 0.0, 0.0, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            if labels[k]:
                tp += 1
            else:
                fp += 1
        recall = tp / pos
        ap += (recall - prev_recall) * tp / (tp + fp)
        prev_recall = recall
        i = j + 1
    return ap


def load(db, data_dir, name, rows):
    path = os.path.join(data_dir, name + ".csv.gz")
    with gzip.open(path, "rt") as f:
        header = f.readline().strip().split(",")
    cols = ", ".join(f'"{c}" ' + ("boolean" if c == "is_anomaly" else "double precision") for c in header)
    t = f'"{name}"'
    psql(f"DROP TABLE IF EXISTS {t} CASCADE; CREATE TABLE {t} ({cols})", db)
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c",
                    f"\\copy {t} FROM PROGRAM 'gzip -dc {path}' WITH (FORMAT csv, HEADER true)"], check=True)
    psql(f"ALTER TABLE {t} ADD COLUMN rid bigserial", db)
    n = int(psql(f"SELECT count(*) FROM {t}", db))
    assert n == rows, (name, n, rows)


def score(db, model, relation, where="true"):
    out = psql(f"SELECT ssad_score('{model}', t), is_anomaly FROM {relation} t WHERE {where}", db)
    s, l = [], []
    for line in out.splitlines():
        a, b = line.split(",")
        s.append(float(a)); l.append(b == "t")
    return s, l


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "datasets", "adbench"))
    ap.add_argument("--db", default=os.environ.get("PGDATABASE", "ssad_bench"))
    ap.add_argument("--tables", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--protocols", default="A,B")
    ap.add_argument("--out", default=os.path.join(here, "results", "accuracy.csv"))
    ap.add_argument("--no-clean", action="store_true",
                    help="train protocol B without the clean option (the default, contaminated-table guards)")
    args = ap.parse_args()
    manifest = json.load(open(os.path.join(args.data, "manifest.json")))
    wanted = set(filter(None, args.tables.split(",")))
    tables = [m for m in manifest if not wanted or m["name"] in wanted]
    protocols = args.protocols.split(",")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    results = []  # (protocol, dataset, auroc, auprc, train_s)
    psql("SET client_min_messages = warning", args.db)
    for m in tables:
        name = m["name"]
        load(args.db, args.data, name, m["rows"])
        t = f'"{name}"'
        if "A" in protocols:
            t0 = time.time()
            psql(f"SET client_min_messages = warning; SELECT ssad_train('bench_a', '{t}', exclude => ARRAY['is_anomaly', 'rid'])", args.db)
            train_s = time.time() - t0
            s, l = score(args.db, "bench_a", t)
            results.append(("A", name, auroc(s, l), auprc(s, l), train_s))
            print(f"A {name:12s} auroc {results[-1][2]:.4f} auprc {results[-1][3]:.4f} train {train_s:.1f}s", flush=True)
        if "B" in protocols:
            ar, pr, ts = [], [], []
            clean = "" if args.no_clean else ', \"clean\": true'
            for seed in (0, 1, 2):
                # A deterministic random half of the normal rows (hash joins, not NOT IN),
                # stored in rid order: the training sample follows the table's order, and
                # a join hands its rows over in an order that depends on the plan (which
                # a parallel plan, or statistics gathered by autovacuum or not, change).
                psql(f"""DROP TABLE IF EXISTS bench_train;
                         SET max_parallel_workers_per_gather = 0;
                         SELECT setseed({seed} / 10.0);
                         CREATE TEMP TABLE bench_split AS
                           SELECT rid, random() AS r FROM (SELECT rid FROM {t} WHERE NOT is_anomaly ORDER BY rid) x;
                         CREATE TABLE bench_train AS
                           SELECT t.* FROM {t} t
                           JOIN (SELECT rid FROM bench_split ORDER BY r LIMIT (SELECT count(*) / 2 FROM bench_split)) s USING (rid)
                           ORDER BY t.rid;
                         CREATE UNIQUE INDEX ON bench_train (rid);
                         ANALYZE bench_train""", args.db)
                t0 = time.time()
                psql(f"SET client_min_messages = warning; SELECT ssad_train('bench_b', 'bench_train', exclude => ARRAY['is_anomaly', 'rid'], options => '{{\"seed\": {seed}{clean}}}')", args.db)
                ts.append(time.time() - t0)
                s, l = score(args.db, "bench_b", t, "NOT EXISTS (SELECT 1 FROM bench_train b WHERE b.rid = t.rid)")
                ar.append(auroc(s, l)); pr.append(auprc(s, l))
            results.append(("B", name, sum(ar) / 3, sum(pr) / 3, sum(ts) / 3))
            print(f"B {name:12s} auroc {results[-1][2]:.4f} auprc {results[-1][3]:.4f} train {results[-1][4]:.1f}s", flush=True)
        psql(f"DROP TABLE {t} CASCADE; DROP TABLE IF EXISTS bench_train", args.db)
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["protocol", "dataset", "auroc", "auprc", "train_s"])
        for r in results:
            w.writerow([r[0], r[1], f"{r[2]:.4f}", f"{r[3]:.4f}", f"{r[4]:.2f}"])
    report(results, os.path.join(args.data, "baselines.csv"), [m["name"] for m in tables])


def report(results, baselines_path, names):
    base = defaultdict(dict)  # (protocol, detector) -> dataset -> (auroc, auprc)
    for r in csv.DictReader(open(baselines_path)):
        base[(r["protocol"], r["detector"])][r["dataset"]] = (float(r["auroc"]), float(r["auprc"]))
    for proto in ("A", "B"):
        ours = {r[1]: (r[2], r[3]) for r in results if r[0] == proto}
        if not ours:
            continue
        dets = {"ssad": ours}
        for (p, d), v in base.items():
            if p == proto:
                dets[d] = v
        ds = [n for n in names if n in ours]
        # Mean rank per table (1 = best AUROC), over the detectors compared.
        ranks = defaultdict(float)
        for n in ds:
            vals = sorted(((dets[d][n][0], d) for d in dets), reverse=True)
            for i, (_, d) in enumerate(vals):
                ranks[d] += (i + 1) / len(ds)
        rows = []
        for d, v in dets.items():
            rows.append((sum(v[n][0] for n in ds) / len(ds), sum(v[n][1] for n in ds) / len(ds), ranks[d], d))
        rows.sort(reverse=True)
        print(f"\nprotocol {proto} over {len(ds)} tables")
        print(f"{'#':>2} {'detector':10s} {'AUROC':>7s} {'AUPRC':>7s} {'mean rank':>9s}")
        for i, (a, p, rk, d) in enumerate(rows):
            print(f"{i + 1:2d} {d:10s} {a:7.4f} {p:7.4f} {rk:9.2f}")
        if ("A", "IForest") in base and proto == "A":
            worst = min(ds, key=lambda n: ours[n][0] - base[("A", "IForest")][n][0])
            print(f"largest gap to IForest: {worst} {ours[worst][0] - base[('A', 'IForest')][worst][0]:+.4f}")


if __name__ == "__main__":
    sys.exit(main())
