#!/usr/bin/env bash
# pg_cron, preloaded in a real cluster, runs a scheduled ssad_train job and a
# new model version appears in the catalog.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
DIR=/tmp/ssad-it-cron PORT=5497 DB=ssad_it
pg_start "$DIR" "$PORT" "shared_preload_libraries = 'pg_cron'" "cron.database_name = '$DB'" "cron.host = '$DIR'"
trap 'pg_stop "$DIR"' EXIT
q() { pg_psql "$DIR" "$PORT" "$DB" -At -c "$1"; }
pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE $DB"

# The launcher exits once while the database is missing, then restarts by itself.
for _ in $(seq 1 60); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")" = 1 ] && break
    sleep 1
done
check "pg_cron launcher running" 1 "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")"

q "CREATE EXTENSION pg_cron" >/dev/null
q "CREATE EXTENSION ssad" >/dev/null
q "CREATE TABLE metrics AS SELECT i AS id, (i % 30)::float8 AS cpu, (2 * (i % 30) + (i % 7) / 10.0)::float8 AS load FROM generate_series(1, 500) i" >/dev/null
jobid=$(q "SELECT cron.schedule('ssad-retrain', '* * * * *', \$\$SELECT ssad_train('cron_model', 'metrics', exclude => ARRAY['id'], options => '{\"epochs\": 3}')\$\$)")
check "job scheduled" 1 "$(q "SELECT count(*) FROM cron.job WHERE jobid = $jobid")"

# pg_cron has minute granularity: wait up to ~2.5 minutes for a run to finish.
status=""
for _ in $(seq 1 150); do
    status=$(q "SELECT status FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1")
    [ -n "$status" ] && break
    sleep 1
done
check "cron run succeeded" succeeded "$status"
[ "$status" = failed ] && q "SELECT return_message FROM cron.job_run_details WHERE jobid = $jobid"
check "model trained by cron is active" "1|t" "$(q "SELECT version, active FROM ssad.models WHERE name = 'cron_model' ORDER BY version LIMIT 1" | sed 's/|/|/')"
check "cron model scores rows" t "$(q "SELECT bool_and(ssad_score('cron_model', m) > 0) FROM metrics m")"
q "SELECT cron.unschedule($jobid)" >/dev/null
finish
