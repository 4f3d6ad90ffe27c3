-- Scoring inline where users put it: a view, a trigger, a CHECK-like filter.
BEGIN;
SET client_min_messages = warning;
CREATE TABLE payments AS
SELECT i AS id, (i % 25)::float8 AS qty, (4 * (i % 25) + (i % 9) / 10.0)::float8 AS total
  FROM generate_series(1, 1000) AS i;
SELECT version FROM ssad_train('pay', 'payments', exclude => ARRAY['id'], options => '{"seed": 5}');
-- On a table's row the planner passes the row's columns (ssad.score_columns),
-- so the executor does not build a row value for every row.
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, ssad_score('pay', p) FROM payments p WHERE id <= 2;
SELECT id, round(ssad_score('pay', p)::numeric, 4) = round(ssad_score('pay', ROW(p.id, p.qty, p.total)::payments)::numeric, 4) AS same
  FROM payments p WHERE id <= 2 ORDER BY id;
-- A view that carries the score and the flag.
CREATE VIEW payments_scored AS
SELECT p.*, ssad_score('pay', p) AS score, ssad_is_anomaly('pay', p) AS flagged FROM payments p;
SELECT count(*) AS rows, count(*) FILTER (WHERE flagged) <= 30 AS few_flagged FROM payments_scored;
-- A trigger that scores each new row as it arrives (NEW has an extra column: binding is by name).
ALTER TABLE payments ADD COLUMN suspicious boolean;
CREATE FUNCTION pg_temp.flag_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.suspicious := ssad_is_anomaly('pay', NEW);
  RETURN NEW;
END $$;
CREATE TRIGGER flag BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION pg_temp.flag_payment();
INSERT INTO payments (id, qty, total) VALUES (1001, 10, 40.5), (1002, 10, 400), (1003, 3, 12.2);
SELECT id, qty, total, suspicious FROM payments WHERE id > 1000 ORDER BY id;
ROLLBACK;
