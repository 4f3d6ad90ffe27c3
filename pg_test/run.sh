#!/usr/bin/env bash
# Run the pg_regress suite (pg_test/sql -> pg_test/expected) against the
# installed extension in a throwaway cluster. `cargo pgrx regress` refuses to
# run as root, so this drives Debian's pg_regress directly.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../scripts/pg.sh"
DIR=/tmp/ssad-regress PORT=5498 DB=ssad_regress
PG_REGRESS=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress

pg_start "$DIR" "$PORT"
trap 'pg_stop "$DIR"' EXIT
pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE $DB"
tests=$(cd "$HERE/sql" && ls *.sql | sed 's/\.sql$//' | sort)
# setup runs first: it creates the extension.
tests="setup $(echo "$tests" | grep -vx setup | tr '\n' ' ')"
mkdir -p "$DIR/out"
"$PG_REGRESS" --use-existing --host="$DIR" --port="$PORT" --user=postgres --dbname="$DB" \
    --inputdir="$HERE" --outputdir="$DIR/out" $tests || {
    cat "$DIR/out/regression.diffs" 2>/dev/null | head -200
    exit 1
}
