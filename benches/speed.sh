#!/usr/bin/env bash
# SQL-level speed benchmark: builds and installs ssad (release), starts a
# throwaway cluster, creates a Python venv with scikit-learn for the
# IsolationForest baseline, runs benches/speed.py, stops the cluster.
# Usage: bash benches/speed.sh [--rows 1000000] [--shared http,cover,celeba]
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. scripts/pg.sh
bash scripts/setup.sh
[ -n "${SSAD_SKIP_INSTALL:-}" ] || cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/tmp/ssad-speed-install.log 2>&1 \
    || { tail -40 /tmp/ssad-speed-install.log; exit 1; }
VENV=$REPO/benches/.venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "scikit-learn==1.5.2" "numpy<2.2"
fi
DIR=/tmp/ssad-speed PORT=5491
pg_start "$DIR" "$PORT" "max_parallel_workers_per_gather = 2" "shared_buffers = '2GB'" "work_mem = '64MB'"
trap 'pg_stop "$DIR"' EXIT
export PGHOST=$DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=ssad_speed
psql -X -q -d postgres -c "CREATE DATABASE ssad_speed"
psql -X -q -c "CREATE EXTENSION ssad"
"$VENV/bin/python" benches/speed.py "$@"
