#!/usr/bin/env python3
"""Pictures of the benchmark results, as PNGs (matplotlib).

- accuracy.png, from benches/results/accuracy.csv (benches/accuracy.py) and
  the baselines' baselines.csv: per table, ssad's AUROC beside the best of
  the nine baselines, KNN and IsolationForest, one panel per protocol.
- speed.png, from benches/results/speed.json (benches/speed.py): per table,
  rows/s of inline scoring (ssad_score in a plain query, one backend),
  ssad_top_anomalies on 2 threads, IsolationForest on one core and a plain
  scan of the same columns (log scale).

Each picture names the commit its figures were measured at (--commit, by
default the checkout's HEAD). A missing input file skips its picture.
Usage: python3 benches/plots.py [--baselines DIR/baselines.csv] [--out docs/img]
"""
import argparse, csv, json, os, subprocess, sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def head_commit():
    r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def accuracy_plot(results, baselines, out, commit):
    ours = defaultdict(dict)  # protocol -> table -> auroc
    for r in csv.DictReader(open(results)):
        ours[r["protocol"]][r["dataset"]] = float(r["auroc"])
    base = defaultdict(lambda: defaultdict(dict))  # protocol -> table -> detector -> auroc
    for r in csv.DictReader(open(baselines)):
        base[r["protocol"]][r["dataset"]][r["detector"]] = float(r["auroc"])
    protocols = [p for p in ("A", "B") if ours.get(p)]
    if not protocols:
        print(f"plots: no rows in {results}", file=sys.stderr)
        return
    fig, axes = plt.subplots(len(protocols), 1, figsize=(12, 4.2 * len(protocols)), squeeze=False)
    titles = {"A": "Protocol A: unsupervised, trained on the contaminated table",
              "B": "Protocol B: one-class, trained on normal rows (mean of 3 splits)"}
    for ax, p in zip(axes[:, 0], protocols):
        tables = sorted(ours[p], key=str.lower)
        x = range(len(tables))
        best = [max(base[p][t].values()) if base[p][t] else float("nan") for t in tables]
        knn = [base[p][t].get("KNN", float("nan")) for t in tables]
        iforest = [base[p][t].get("IForest", float("nan")) for t in tables]
        w = 0.2
        ax.bar([i - 1.5 * w for i in x], [ours[p][t] for t in tables], w, label="ssad", color="#1f6fb4")
        ax.bar([i - 0.5 * w for i in x], best, w, label="best of the nine baselines", color="#bbbbbb")
        ax.bar([i + 0.5 * w for i in x], knn, w, label="KNN", color="#e39b3c")
        ax.bar([i + 1.5 * w for i in x], iforest, w, label="IForest", color="#5aa05a")
        mean = sum(ours[p].values()) / len(ours[p])
        means = {d: sum(base[p][t][d] for t in tables) / len(tables) for d in ("KNN", "IForest")}
        ax.set_title(f"{titles.get(p, p)}: mean AUROC ssad {mean:.4f}, KNN {means['KNN']:.4f}, "
                     f"IForest {means['IForest']:.4f}", fontsize=10)
        ax.set_xticks(list(x))
        ax.set_xticklabels(tables, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0.4, 1.0)
        ax.set_ylabel("AUROC")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, 0.955))
    fig.suptitle(f"ssad through SQL against the ADBench baselines (measured at {commit})", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"plots: wrote {out}")


def speed_plot(results, out, commit):
    tables = json.load(open(results))["tables"]
    names = [t["table"].replace("generated ", "generated\n") for t in tables]
    series = [
        ("ssad_score inline, 1 backend", [t["inline_rows_per_s"] for t in tables], "#1f6fb4"),
        ("ssad_top_anomalies, 2 threads", [t["topk_2threads_rows_per_s"] for t in tables], "#0b3d6b"),
        ("IsolationForest, 1 core", [t["iforest_rows_per_s_core"] for t in tables], "#5aa05a"),
        ("plain scan of the columns", [t["rows"] / t["plain_scan_s"] for t in tables], "#bbbbbb"),
    ]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    w = 0.2
    for k, (label, values, color) in enumerate(series):
        xs = [i + (k - 1.5) * w for i in range(len(tables))]
        bars = ax.bar(xs, values, w, label=label, color=color)
        ax.bar_label(bars, labels=[f"{v / 1e6:.2f}M" for v in values], fontsize=7, rotation=90, padding=2)
    ax.set_yscale("log")
    ax.set_ylim(1e5, 1e8)
    ax.set_ylabel("rows/s (log scale)")
    ax.set_xticks(range(len(tables)))
    ax.set_xticklabels(names, fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2, loc="upper right")
    ax.set_title(f"Scoring throughput through SQL, 2-core machine (measured at {commit})", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"plots: wrote {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accuracy", default=os.path.join(HERE, "results", "accuracy.csv"))
    ap.add_argument("--speed", default=os.path.join(HERE, "results", "speed.json"))
    ap.add_argument("--baselines", default=os.path.join(REPO, "..", "shared", "datasets", "adbench", "baselines.csv"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="directory of the PNGs")
    ap.add_argument("--commit", default=None, help="the commit the figures were measured at (default: HEAD)")
    ap.add_argument("--only", choices=["accuracy", "speed"], default=None)
    a = ap.parse_args()
    commit = a.commit or head_commit()
    os.makedirs(a.out, exist_ok=True)
    if a.only in (None, "accuracy"):
        if os.path.exists(a.accuracy) and os.path.exists(a.baselines):
            accuracy_plot(a.accuracy, a.baselines, os.path.join(a.out, "accuracy.png"), commit)
        else:
            print(f"plots: no {a.accuracy} or {a.baselines}, no accuracy picture", file=sys.stderr)
    if a.only in (None, "speed"):
        if os.path.exists(a.speed):
            speed_plot(a.speed, os.path.join(a.out, "speed.png"), commit)
        else:
            print(f"plots: no {a.speed}, no speed picture", file=sys.stderr)


if __name__ == "__main__":
    main()
