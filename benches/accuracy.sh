#!/usr/bin/env bash
# Accuracy benchmark through SQL: builds and installs ssad (release), starts a
# throwaway cluster, runs benches/accuracy.py (both protocols, all 22 shared
# tables unless --tables says otherwise), stops the cluster.
# Usage: bash benches/accuracy.sh [--tables cardio,glass] [--protocols A,B]
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. scripts/pg.sh
bash scripts/setup.sh
[ -n "${SSAD_SKIP_INSTALL:-}" ] || cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/tmp/ssad-bench-install.log 2>&1 \
    || { tail -40 /tmp/ssad-bench-install.log; exit 1; }
DIR=/tmp/ssad-bench PORT=5496
pg_start "$DIR" "$PORT"
trap 'pg_stop "$DIR"' EXIT
export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=ssad_bench
psql -X -q -d postgres -c "CREATE DATABASE ssad_bench"
psql -X -q -c "CREATE EXTENSION ssad"
python3 benches/accuracy.py "$@"
