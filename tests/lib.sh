#!/usr/bin/env bash
# Shared helpers for integration tests: a cluster per test, assertions that
# count, and the plain "N passed, N failed" closing line.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$REPO/scripts/pg.sh"
PASSED=0
FAILED=0

check() { # check NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        PASSED=$((PASSED + 1)); echo "ok   - $1"
    else
        FAILED=$((FAILED + 1)); echo "FAIL - $1: expected [$2], got [$3]"
    fi
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# it_cluster DIR PORT DB [postgresql.conf lines...]: a cluster for this test,
# stopped on exit, with database DB holding the extension.
it_cluster() {
    IT_DIR=$1 IT_PORT=$2 IT_DB=$3
    shift 3
    pg_start "$IT_DIR" "$IT_PORT" "$@"
    trap 'pg_stop "$IT_DIR"' EXIT
    pg_psql "$IT_DIR" "$IT_PORT" postgres -c "CREATE DATABASE $IT_DB"
    q "CREATE EXTENSION ssad" >/dev/null
}

# qdb DB SQL: one statement in DB, unaligned output, notices off, exact floats.
qdb() {
    pg_psql "$IT_DIR" "$IT_PORT" "$1" -At -c "SET client_min_messages = warning; SET extra_float_digits = 3; $2" | grep -v '^SET$' || true
}

# q SQL: the same in the test's database.
q() { qdb "$IT_DB" "$1"; }
