-- Every common column type: numbers, text, enum, boolean, dates and times
-- (a time adds hour-of-day and day-of-week categories). NULLs are values.
BEGIN;
SET client_min_messages = warning;
CREATE TYPE channel AS ENUM ('web', 'store', 'phone');
CREATE TABLE orders AS
SELECT i AS id,
       (ARRAY['north', 'south', 'east', 'west'])[1 + i % 4] AS region,
       (100 * (1 + i % 4) + i % 10)::numeric(8,2) AS amount,
       (ARRAY['web', 'store', 'phone'])[1 + i % 3]::channel AS channel,
       (i % 5 = 0) AS gift,
       CASE WHEN i % 7 = 0 THEN NULL ELSE 'note' END AS note,
       timestamp '2026-11-23 09:00' + (i % 5) * interval '1 day' + (i * 37 % 480) * interval '1 minute' AS placed_at,
       date '2026-11-23' + i % 5 AS ship_on,
       'constant' AS tag,
       '{}'::jsonb AS extra
  FROM generate_series(1, 600) AS i;
SELECT columns, skipped_columns FROM ssad_train('orders_model', 'orders', exclude => ARRAY['id'], options => '{"seed": 2}');
SELECT c->>'name' AS model_column, c->>'kind' AS kind FROM ssad.models, jsonb_array_elements(columns) c WHERE name = 'orders_model';
-- Rows that break the data's habits rank high among the table's own rows.
WITH odd(what, r) AS (
  SELECT 'amount of another region', ROW(o.id, o.region, 400.00::numeric, o.channel, o.gift, o.note, o.placed_at, o.ship_on, o.tag, o.extra)::orders FROM orders o WHERE id = 4
  UNION ALL
  SELECT 'placed on Sunday at 3 a.m.', ROW(o.id, o.region, o.amount, o.channel, o.gift, o.note, timestamp '2026-11-29 03:00', o.ship_on, o.tag, o.extra)::orders FROM orders o WHERE id = 4
  UNION ALL
  SELECT 'a region never seen', ROW(o.id, 'atlantis', o.amount, o.channel, o.gift, o.note, o.placed_at, o.ship_on, o.tag, o.extra)::orders FROM orders o WHERE id = 4
)
SELECT what,
       round((SELECT avg((ssad_score('orders_model', o) < ssad_score('orders_model', r))::int) FROM orders o), 2) AS share_of_rows_below
  FROM odd ORDER BY what;
-- The explanation points at the broken parts, with what was expected: the
-- weekday and the hour. The order is two days past the training range, within
-- one training span of it, which counts as its last day: lateness alone is
-- no evidence (rows arriving after training are always later).
SELECT e.column_name, e.observed,
       CASE WHEN e.column_name IN ('placed_at', 'ship_on') THEN e.expected::timestamp::date::text ELSE e.expected END AS expected
  FROM (SELECT o.id, o.region, o.amount, o.channel, o.gift, o.note, timestamp '2026-11-29 03:00' AS placed_at, o.ship_on, o.tag, o.extra FROM orders o WHERE id = 4) r,
       ssad_explain('orders_model', r) e
 WHERE e.rank <= 3 ORDER BY e.rank;
-- Text is read in place from the row, compressed or not, padded or not: the
-- same values score the same whichever way they arrive.
CREATE TABLE notes AS
SELECT i AS n, (ARRAY['alpha', 'beta', 'gamma'])[1 + i % 3]::char(8) AS kind,
       CASE WHEN i % 50 = 0 THEN repeat('long text ', 400) ELSE 'short' END AS body
  FROM generate_series(1, 300) AS i;
SELECT 1 FROM ssad_train('notes_model', 'notes', options => '{"seed": 3}');
SELECT pg_column_compression(body) IS NOT NULL AS stored_compressed,
       ssad_score('notes_model', t) = ssad_score('notes_model', ROW(t.n, t.kind::text::char(8), t.body || '')::notes) AS same_score
  FROM notes t WHERE n = 50;
SELECT ssad_score('notes_model', ROW(3, 'alpha'::char(8), 'short')::notes)
     = ssad_score('notes_model', ROW(3, 'alpha   '::char(8), 'short')::notes) AS padding_ignored;
-- An identifier-like text column (every value once) is no category: it is
-- set aside and named, instead of 64 arbitrary values becoming rare
-- categories whose rows look anomalous. A value seen a few times (a customer
-- with a handful of sign-ups among many) is no rarer than the others.
CREATE TABLE signups AS
SELECT 'user' || i || '@example.com' AS email, 'c' || (i % 150) AS customer,
       (ARRAY['web', 'app', 'api'])[1 + i % 3] AS channel, (i % 3) * 10 + (i * 7919 % 7) AS seconds
  FROM generate_series(1, 3000) AS i;
SELECT columns, skipped_columns FROM ssad_train('signups_model', 'signups', options => '{"seed": 1}');
SELECT max(e.marginal_term) = 0 AS no_customer_is_rare
  FROM signups s, ssad_explain('signups_model', s) e WHERE e.column_name = 'customer' AND s.seconds < 5;
ROLLBACK;
