#!/usr/bin/env bash
# Accuracy benchmark through SQL: builds and installs ssad (release), starts a
# throwaway cluster, runs benches/accuracy.py (both protocols, all 22 shared
# tables unless --tables says otherwise; protocol B with the one-class option
# `clean`, unless --no-clean), draws benches/results/accuracy.png
# (benches/plots.py, in the venv benches/.venv), stops the cluster.
# Usage: bash benches/accuracy.sh [--tables cardio,glass] [--protocols A,B] [--no-clean]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_venv
bench_cluster /tmp/ssad-bench 5496 ssad_bench
python3 benches/accuracy.py "$@"
bench_plots accuracy
