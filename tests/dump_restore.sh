#!/usr/bin/env bash
# pg_dump / pg_restore keeps every model version, the active flags, the
# grants and the id sequence: scores after restore are identical.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-dump PORT=5493
pg_start "$DIR" "$PORT"
trap 'pg_stop "$DIR"' EXIT
q() { pg_psql "$DIR" "$PORT" "$1" -At -c "SET client_min_messages = warning; SET extra_float_digits = 3; $2" | grep -v '^SET$' || true; }
pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE src" -c "CREATE DATABASE dst" -c "CREATE ROLE ssad_it_reader"

q src "CREATE EXTENSION ssad" >/dev/null
q src "CREATE TABLE pay AS SELECT i AS id, (ARRAY['a','b','c'])[1 + i % 3] AS kind, (i % 17)::float8 AS x,
         (2 * (i % 17) + (i % 5) / 10.0)::float8 AS y, timestamptz '2026-01-01' + i * interval '37 minutes' AS at
         FROM generate_series(1, 2000) i" >/dev/null
q src "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 3}')" >/dev/null
q src "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 3, \"seed\": 9}')" >/dev/null
q src "SELECT ssad_activate('pay_model', 1)" >/dev/null
q src "SELECT ssad_grant('pay_model', 'ssad_it_reader')" >/dev/null
scores_sql="SELECT string_agg(ssad_score('pay_model', p)::text, ',' ORDER BY id) FROM pay p"
before=$(q src "$scores_sql")
catalog_sql="SELECT string_agg(format('%s/%s/%s/%s/%s', name, version, active, owner, md5(model)), ',' ORDER BY version) FROM ssad.models"
cat_before=$(q src "$catalog_sql")

pg_dump -h "$DIR" -p "$PORT" -U postgres -Fc -f "$DIR/src.dump" src
pg_restore -h "$DIR" -p "$PORT" -U postgres -d dst "$DIR/src.dump"

check "catalog rows identical after restore" "$cat_before" "$(q dst "$catalog_sql")"
check "grants restored" "pay_model:ssad_it_reader" "$(q dst "SELECT string_agg(name || ':' || grantee, ',') FROM ssad.model_grants")"
after=$(q dst "$scores_sql")
check "scores identical after restore (2000 rows)" "$before" "$after"
check "scores are not all equal" t "$(q dst "SELECT count(DISTINCT ssad_score('pay_model', p)) > 100 FROM pay p")"
# The id sequence came along: a new version in the restored database does not collide.
check "training continues after restore" 3 "$(q dst "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 1}')")"
check "ids unique" t "$(q dst "SELECT count(DISTINCT id) = count(*) FROM ssad.models")"
finish
