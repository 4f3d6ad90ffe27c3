#!/usr/bin/env bash
# The demo: build and install ssad, start a throwaway cluster, load the cardio
# table (or the small table this repository ships), train a model without the
# label, show the 10 most anomalous rows and the AUROC against is_anomaly.
export PATH="$HOME/.cargo/bin:$PATH"
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
. scripts/pg.sh

bash scripts/setup.sh
echo "==> building and installing ssad (release)"
[ -n "${SSAD_SKIP_INSTALL:-}" ] || cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config >/tmp/ssad-demo-install.log 2>&1 \
    || { tail -40 /tmp/ssad-demo-install.log; exit 1; }

DATA=${SSAD_DATASETS:-$REPO/../shared/datasets/adbench}/cardio.csv.gz
TABLE=cardio
if [ ! -r "$DATA" ]; then
    echo "==> $DATA not found: using the small table shipped in data/"
    DATA=$REPO/data/sensors.csv.gz
    TABLE=sensors
fi

DIR=/tmp/ssad-demo PORT=5499
pg_start "$DIR" "$PORT"
trap 'pg_stop "$DIR"' EXIT
pg_psql "$DIR" "$PORT" postgres -c "CREATE DATABASE ssad_demo"

# Columns from the CSV header: every feature is a number, the label a boolean.
header=$(gzip -dc "$DATA" 2>/dev/null | head -1) || true  # gzip may get SIGPIPE
cols=$(echo "$header" | tr ',' '\n' | awk '{ printf "%s%s %s", (NR>1 ? ", " : ""), $1, ($1 == "is_anomaly" ? "boolean" : "double precision") }')

echo "==> loading $(basename "$DATA") into table $TABLE"
pg_psql "$DIR" "$PORT" ssad_demo <<SQL
CREATE EXTENSION ssad;
CREATE TABLE $TABLE ($cols);
\copy $TABLE FROM PROGRAM 'gzip -dc $DATA' WITH (FORMAT csv, HEADER true)
SELECT count(*) AS rows, count(*) FILTER (WHERE is_anomaly) AS labelled_anomalies FROM $TABLE;
SQL

echo "==> training (the label is excluded from the model)"
pg_psql "$DIR" "$PORT" ssad_demo <<SQL
SET client_min_messages = warning;
\x on
SELECT model_name, version, rows_used, array_length(columns, 1) AS n_columns, skipped_columns,
       round(final_loss::numeric, 4) AS final_loss, round(seconds::numeric, 2) AS seconds
  FROM ssad_train('${TABLE}_model', '$TABLE', exclude => ARRAY['is_anomaly']);
SQL

echo "==> the 10 most anomalous rows, each with the column that contributes most (is_anomaly only to compare)"
pg_psql "$DIR" "$PORT" ssad_demo <<SQL
CREATE TEMP TABLE scored AS SELECT ctid AS row_id, is_anomaly, ssad_score('${TABLE}_model', t) AS score FROM $TABLE t;
SELECT s.row_id, round(s.score::numeric, 3) AS score, s.is_anomaly,
       e.column_name AS top_column, round((100 * e.contribution / s.score)::numeric) AS "share_%",
       round(e.observed::numeric, 3) AS observed, round(e.expected::numeric, 3) AS expected
  FROM (SELECT * FROM scored ORDER BY score DESC LIMIT 10) s
  JOIN $TABLE t ON t.ctid = s.row_id
  CROSS JOIN LATERAL ssad_explain('${TABLE}_model', t) e
 WHERE e.rank = 1
 ORDER BY s.score DESC;
-- AUROC: Mann-Whitney U with mid-ranks for ties.
WITH r AS (
  SELECT is_anomaly, rank() OVER (ORDER BY score) + (count(*) OVER (PARTITION BY score) - 1) / 2.0 AS rnk FROM scored
), c AS (
  SELECT count(*) FILTER (WHERE is_anomaly) AS p, count(*) FILTER (WHERE NOT is_anomaly) AS n,
         sum(rnk) FILTER (WHERE is_anomaly) AS rs FROM r
)
SELECT round((rs - p * (p + 1) / 2.0) / (p * n), 4) AS auroc FROM c;
SQL
echo "==> done; the cluster in $DIR is stopped"
