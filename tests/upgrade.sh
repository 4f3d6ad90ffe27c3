#!/usr/bin/env bash
# ALTER EXTENSION ssad UPDATE from 0.1.0 (its frozen install script,
# tests/fixtures/) through every release to the current one keeps every model: rows
# stored under 0.1.0's catalog score the same bits after the update, training
# continues, and the updated catalog (functions, comments, privileges) is the
# one a fresh install creates.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-upgrade PORT=5497
EXT=$("$PG_BIN/pg_config" --sharedir)/extension
OLD=$EXT/ssad--0.1.0.sql
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# The fixture is this test's: a file already there is put back afterwards.
SAVED=$(mktemp)
if [ -e "$OLD" ]; then cp "$OLD" "$SAVED"; else rm -f "$SAVED"; fi
restore() {
    if [ -e "$SAVED" ]; then as_root install -m 644 "$SAVED" "$OLD"; rm -f "$SAVED"; else as_root rm -f "$OLD"; fi
}
as_root install -m 644 "$REPO/tests/fixtures/ssad--0.1.0.sql" "$OLD"
it_cluster "$DIR" "$PORT" fresh
trap 'pg_stop "$DIR"; restore' EXIT
pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE old"
qdb old "CREATE EXTENSION ssad VERSION '0.1.0'" >/dev/null
check "0.1.0 installed" 0.1.0 "$(qdb old "SELECT extversion FROM pg_extension WHERE extname = 'ssad'")"

table="CREATE TABLE pay AS SELECT i AS id, (ARRAY['a','b','c'])[1 + i % 3] AS kind, (i % 17)::float8 AS x,
       (2 * (i % 17) + (i % 5) / 10.0)::float8 AS y FROM generate_series(1, 600) i"
qdb fresh "$table" >/dev/null
qdb old "$table" >/dev/null
# Two versions trained in the fresh database, their rows copied into the 0.1.0
# catalog with 0.1.0's columns, as 0.1.0 stored them.
q "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 2}')" >/dev/null
q "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 2, \"seed\": 9}')" >/dev/null
q "SELECT ssad_activate('pay_model', 1)" >/dev/null
cols="name, version, source, train_args, columns, options, metrics, score_quantiles, format_version, model, owner, created_at, active"
pg_psql "$DIR" "$PORT" fresh -c "COPY (SELECT $cols FROM ssad.models ORDER BY version) TO STDOUT" \
    | pg_psql "$DIR" "$PORT" old -c "COPY ssad.models ($cols) FROM STDIN"
scores="SELECT string_agg(ssad_score('pay_model', p)::text, ',' ORDER BY id) FROM pay p"
before=$(qdb old "$scores")
check "0.1.0's rows score as the fresh install's" "$(q "$scores")" "$before"

check "the update goes through every release up to 0.5.0" "0.1.0--0.2.0--0.3.0--0.4.0--0.5.0" \
    "$(qdb old "SELECT path FROM pg_extension_update_paths('ssad') WHERE source = '0.1.0' AND target = '0.5.0'")"
qdb old "ALTER EXTENSION ssad UPDATE" >/dev/null
check "updated to the current version" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'ssad'")" \
    "$(qdb old "SELECT extversion FROM pg_extension WHERE extname = 'ssad'")"
check "scores identical after the update (600 rows)" "$before" "$(qdb old "$scores")"
check "scores are not all equal" t "$(qdb old "SELECT count(DISTINCT ssad_score('pay_model', p)) > 50 FROM pay p")"

# The catalog matches a fresh install's: columns, constraints, comments, objects.
shape="SELECT string_agg(format('%s %s %s %s %s', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
         pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum)), ',' ORDER BY a.attnum)
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = 'ssad.models'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
check "ssad.models has a fresh install's columns" "$(q "$shape")" "$(qdb old "$shape")"
checks="SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'ssad.models'::regclass"
check "ssad.models has a fresh install's constraints" "$(q "$checks")" "$(qdb old "$checks")"
# (Sorted by the text itself: ORDER BY 1 in an aggregate sorts by a constant.)
objects="SELECT string_agg(pg_describe_object(classid, objid, 0), ',' ORDER BY pg_describe_object(classid, objid, 0)) FROM pg_depend d
          JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ssad' WHERE d.deptype = 'e'"
check "the extension owns a fresh install's objects" "$(q "$objects")" "$(qdb old "$objects")"
policies="SELECT string_agg(format('%s %s %s %s %s', tablename, policyname, cmd, qual, with_check), ',' ORDER BY tablename, policyname)
            FROM pg_policies WHERE schemaname = 'ssad'"
check "the catalog has a fresh install's policies" "$(q "$policies")" "$(qdb old "$policies")"
acls="SELECT string_agg(relname || ' ' || coalesce(relacl::text, '-'), ',' ORDER BY relname) FROM pg_class
       WHERE relnamespace = 'ssad'::regnamespace AND relkind IN ('r', 'S', 'v')"
check "the catalog has a fresh install's privileges" "$(q "$acls")" "$(qdb old "$acls")"
comments="SELECT string_agg(p.oid::regprocedure::text || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '-'), ',' ORDER BY p.oid::regprocedure::text)
            FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
            JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ssad'"
check "the extension's functions have a fresh install's comments" "$(q "$comments")" "$(qdb old "$comments")"
check "a role cannot write the updated catalog directly" "permission denied for table models" \
    "$(qdb old "CREATE ROLE ssad_upgrade_probe; SET ROLE ssad_upgrade_probe; UPDATE ssad.models SET active = false" 2>&1 \
       | grep -o 'permission denied for table models')"

# Training continues: a rollback and the bad version dropped, the next is numbered above it.
qdb old "SELECT ssad_drop('pay_model', 2)" >/dev/null
check "training after the update takes the next number" 3 \
    "$(qdb old "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 1}')")"
finish
