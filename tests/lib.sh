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
