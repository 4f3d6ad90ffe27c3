#!/usr/bin/env bash
# pg_dump / pg_restore keeps every model version, the active flags, the
# grants and the id sequence: scores after restore are identical.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-dump PORT=5493
it_cluster "$DIR" "$PORT" src
pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE dst" -c "CREATE ROLE ssad_it_reader"
qdb src "CREATE TABLE pay AS SELECT i AS id, (ARRAY['a','b','c'])[1 + i % 3] AS kind, (i % 17)::float8 AS x,
         (2 * (i % 17) + (i % 5) / 10.0)::float8 AS y, timestamptz '2026-01-01' + i * interval '37 minutes' AS at
         FROM generate_series(1, 2000) i" >/dev/null
qdb src "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 3}')" >/dev/null
qdb src "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 3, \"seed\": 9}')" >/dev/null
qdb src "SELECT ssad_activate('pay_model', 1)" >/dev/null
qdb src "SELECT ssad_grant('pay_model', 'ssad_it_reader')" >/dev/null
scores_sql="SELECT string_agg(ssad_score('pay_model', p)::text, ',' ORDER BY id) FROM pay p"
before=$(qdb src "$scores_sql")
catalog_sql="SELECT string_agg(format('%s/%s/%s/%s/%s', name, version, active, owner, md5(model)), ',' ORDER BY version) FROM ssad.models"
cat_before=$(qdb src "$catalog_sql")

pg_dump -h "$DIR" -p "$PORT" -U postgres -Fc -f "$DIR/src.dump" src
pg_restore -h "$DIR" -p "$PORT" -U postgres -d dst "$DIR/src.dump"

check "catalog rows identical after restore" "$cat_before" "$(qdb dst "$catalog_sql")"
check "grants restored" "pay_model:ssad_it_reader" "$(qdb dst "SELECT string_agg(name || ':' || grantee, ',') FROM ssad.model_grants")"
after=$(qdb dst "$scores_sql")
check "scores identical after restore (2000 rows)" "$before" "$after"
check "scores are not all equal" t "$(qdb dst "SELECT count(DISTINCT ssad_score('pay_model', p)) > 100 FROM pay p")"
# The id sequence came along: a new version in the restored database does not collide.
check "training continues after restore" 3 "$(qdb dst "SELECT version FROM ssad_train('pay_model', 'pay', exclude => ARRAY['id'], options => '{\"epochs\": 1}')")"
check "ids unique" t "$(qdb dst "SELECT count(DISTINCT id) = count(*) FROM ssad.models")"
finish
