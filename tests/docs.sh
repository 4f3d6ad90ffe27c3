#!/usr/bin/env bash
# Every SQL example of the documentation runs: each ```sql fenced block of
# README.md and of each docs/*.md, in order, with psql ON_ERROR_STOP, one
# check per block. Each file gets a fresh database of its own (no extension
# created), so a file's examples are self-contained: its first block creates
# what the later ones use. The cluster preloads pg_cron and ssad
# (ssad.model_stats counts in shared memory), and cron.database_name is the
# database of docs/reference.md, whose pg_cron recipes run there.
# Blocks tagged ```sql citus need a Citus cluster: they are skipped here and
# left to tests/citus.sh, which checks that behaviour on a coordinator and
# two workers. Other fences (```text, ```bash) are not run.
# The README's SQLSTATE table is also checked against src/error.rs, whose
# `Kind` is the one list of the SQLSTATEs ssad raises.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-docs PORT=5471 DB=docs CRON_DB=docs_reference
it_cluster "$DIR" "$PORT" "$DB" "shared_preload_libraries = 'pg_cron,ssad'" \
    "cron.database_name = '$CRON_DB'" "cron.host = '$DIR'"
mkdir -p "$DIR/blocks"
cd "$REPO"

# blocks FILE OUTDIR: writes OUTDIR/N.sql for the Nth ```sql block (citus ones
# as N.citus) and prints the count.
blocks() {
    awk -v out="$2" '
        !inside && /^```sql([ \t]+[a-z]+)?[ \t]*$/ {
            n++; inside = 1
            file = out "/" n (($0 ~ /citus/) ? ".citus" : ".sql")
            printf "" > file
            next
        }
        inside && /^```[ \t]*$/ { inside = 0; close(file); next }
        inside { print >> file }
        END { print n + 0 }
    ' "$1"
}

for doc in README.md docs/*.md; do
    name=$(basename "$doc" .md | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '_')
    db=docs_$name
    out=$DIR/blocks/$name
    mkdir -p "$out"
    n=$(blocks "$REPO/$doc" "$out")
    pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE $db"
    echo "# $doc: $n sql blocks, database $db"
    for i in $(seq 1 "$n"); do
        if [ -f "$out/$i.citus" ]; then
            echo "skip - $doc block $i (sql citus: tests/citus.sh)"
            continue
        fi
        if err=$(pg_psql "$DIR" "$PORT" "$db" -f "$out/$i.sql" 2>&1 >"$out/$i.out"); then
            check "$doc block $i" ok ok
        else
            check "$doc block $i ($(head -c 60 "$out/$i.sql" | tr '\n' ' '))" ok "$(echo "$err" | grep -m1 -E 'ERROR|FATAL' || echo "$err" | tail -1)"
        fi
    done
done

# The SQLSTATEs of error.rs's kinds (each documented "/// CODE: ...") and
# of the README's table are the same set (the table adds 42602, which
# Postgres raises for ssad's reserved setting prefix).
codes_rs=$(grep -oE '^    /// [0-9A-Z]{5}:' "$REPO/src/error.rs" | grep -oE '[0-9A-Z]{5}' | sort -u | tr '\n' ' ')
codes_md=$(awk '/^## SQLSTATEs/ { t = 1; next } t && /^## / { t = 0 } t' "$REPO/README.md" |
    grep -oE '\| [0-9A-Z]{5} [a-z_]+ \|$' | grep -oE '[0-9A-Z]{5}' | grep -vx 42602 | sort -u | tr '\n' ' ')
check "the README's SQLSTATE table is error.rs's list of kinds" "$codes_rs" "$codes_md"
finish
