//! How SQL types feed the model: each supported attribute is read one way
//! and becomes one to three model columns (a time becomes its epoch plus
//! hour-of-day and day-of-week categories).

use pgrx::prelude::*;
use ssad_core::{ColumnKind, ColumnSpec};

/// How an attribute is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadAs {
    /// smallint, integer, bigint, real, double precision.
    Number,
    /// numeric: as a float8, saturating to an infinity beyond float8's range
    /// (`numeric_float8_no_overflow`, as scoring reads it): a value of
    /// 10^999 is as anomalous as +Infinity, and it does not stop a training.
    Decimal,
    /// text, varchar, char(n), name, "char", enums: categories.
    Text,
    /// boolean: the categories 'true' and 'false'.
    Boolean,
    /// timestamp, timestamptz: epoch seconds, hour of day, day of week.
    Timestamp,
    /// date: epoch seconds, day of week.
    Date,
    /// interval: its length in seconds (a month is 30 days, a year 365.25,
    /// as `extract(epoch ...)` counts them).
    Duration,
    /// money: its amount, as `::numeric` gives it.
    Money,
    /// uuid, inet, cidr, macaddr, macaddr8, bit, varbit and other string
    /// types (citext, ...): categories of the text the type prints. Read
    /// through the output function (not `::text`, which gives inet its
    /// netmask), as scoring reads the datum.
    Printed,
}

pub const SUPPORTED: &str = "smallint, integer, bigint, real, double precision, numeric, money, boolean, \
text, varchar, char(n), name, enum types, uuid, inet, cidr, macaddr, macaddr8, bit, varbit, other string \
types (citext), date, timestamp, timestamptz, interval, and domains over them";

/// Suffixes of the derived time columns.
pub const HOUR: &str = "#hour";
pub const DOW: &str = "#dow";

/// The attribute a model column is read from: itself when the relation has
/// an attribute of that name, else a time attribute's part's attribute.
pub fn attribute_of(column: &str, exists: impl Fn(&str) -> bool) -> &str {
    if exists(column) {
        return column;
    }
    [HOUR, DOW]
        .into_iter()
        .find_map(|sfx| column.strip_suffix(sfx))
        .unwrap_or(column)
}

/// The type a value of `type_oid` is stored as: a domain's base type (through
/// stacked domains), else the type itself. A domain's values are its base
/// type's datums, so they are read and trained on as the base type.
pub fn base_type(type_oid: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: a syscache lookup; an oid that is not a domain comes back as is.
    unsafe { pg_sys::getBaseType(type_oid) }
}

pub fn read_as(type_oid: pg_sys::Oid) -> Option<ReadAs> {
    match base_type(type_oid) {
        pg_sys::INT2OID
        | pg_sys::INT4OID
        | pg_sys::INT8OID
        | pg_sys::FLOAT4OID
        | pg_sys::FLOAT8OID => Some(ReadAs::Number),
        pg_sys::NUMERICOID => Some(ReadAs::Decimal),
        pg_sys::TEXTOID
        | pg_sys::VARCHAROID
        | pg_sys::BPCHAROID
        | pg_sys::NAMEOID
        | pg_sys::CHAROID => Some(ReadAs::Text),
        pg_sys::BOOLOID => Some(ReadAs::Boolean),
        pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Some(ReadAs::Timestamp),
        pg_sys::DATEOID => Some(ReadAs::Date),
        pg_sys::INTERVALOID => Some(ReadAs::Duration),
        pg_sys::MONEYOID => Some(ReadAs::Money),
        pg_sys::UUIDOID
        | pg_sys::INETOID
        | pg_sys::CIDROID
        | pg_sys::MACADDROID
        | pg_sys::MACADDR8OID
        | pg_sys::BITOID
        | pg_sys::VARBITOID => Some(ReadAs::Printed),
        // SAFETY: a syscache lookup on a type oid taken from the catalog.
        oid if unsafe { pg_sys::type_is_enum(oid) } => Some(ReadAs::Text),
        oid if string_category(oid) => Some(ReadAs::Printed),
        _ => None,
    }
}

/// Whether a type is in the string category (an extension's citext, say).
/// Documents (json, jsonb, xml), arrays and geometric types are not: their
/// values are rarely categories, and a view can pick out what is.
fn string_category(oid: pg_sys::Oid) -> bool {
    let (mut category, mut preferred) = (0 as std::ffi::c_char, false);
    // SAFETY: a syscache lookup on a type oid taken from the catalog.
    unsafe { pg_sys::get_type_category_preferred(oid, &mut category, &mut preferred) };
    category as u8 == pg_sys::TYPCATEGORY_STRING
}

/// The model columns an attribute becomes.
pub fn expand(attribute: &str, read: ReadAs) -> Vec<ColumnSpec> {
    let spec = |name: String, kind| ColumnSpec { name, kind };
    match read {
        ReadAs::Number | ReadAs::Decimal | ReadAs::Duration | ReadAs::Money => {
            vec![spec(attribute.into(), ColumnKind::Numeric)]
        }
        ReadAs::Text | ReadAs::Boolean | ReadAs::Printed => {
            vec![spec(attribute.into(), ColumnKind::Categorical)]
        }
        ReadAs::Timestamp => vec![
            spec(attribute.into(), ColumnKind::Time),
            spec(format!("{attribute}{HOUR}"), ColumnKind::Categorical),
            spec(format!("{attribute}{DOW}"), ColumnKind::Categorical),
        ],
        ReadAs::Date => vec![
            spec(attribute.into(), ColumnKind::Time),
            spec(format!("{attribute}{DOW}"), ColumnKind::Categorical),
        ],
    }
}

/// A numeric datum as a float8: the nearest double, ±Infinity beyond
/// float8's range (where the `::float8` cast raises 22003), 0 below its
/// smallest magnitude, NaN for NaN. Training, top-k and inline scoring all
/// read numeric through here, so they see the same bits.
pub fn numeric_to_f64(d: pg_sys::Datum) -> f64 {
    // SAFETY: `d` is a non-null numeric datum; the function returns a float8.
    unsafe { pgrx::direct_function_call::<f64>(pg_sys::numeric_float8_no_overflow, &[Some(d)]) }
        .unwrap_or(f64::NAN)
}

/// The SELECT-list expression that reads an attribute for training; scoring
/// reads the same values from datums (see `row.rs`).
pub fn read_expr(attribute: &str, read: ReadAs) -> String {
    let q = pgrx::spi::quote_identifier(attribute);
    match read {
        ReadAs::Number => format!("{q}::pg_catalog.float8"),
        // The datum itself (a domain's as its base type): converted while
        // reading (`spi_scan::RawRow::float8`), as scoring converts it.
        ReadAs::Decimal => format!("{q}::pg_catalog.numeric"),
        ReadAs::Text => format!("{q}::pg_catalog.text"),
        ReadAs::Money => format!("{q}::pg_catalog.numeric::pg_catalog.float8"),
        // format's %s prints a value with its type's output function.
        ReadAs::Printed => format!("pg_catalog.format('%s', {q})"),
        ReadAs::Boolean => format!("CASE WHEN {q} THEN 'true' WHEN NOT {q} THEN 'false' END"),
        // EXTRACT is parsed as pg_catalog.extract whatever the search_path.
        ReadAs::Timestamp | ReadAs::Date | ReadAs::Duration => {
            format!("extract(epoch FROM {q})::pg_catalog.float8")
        }
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use crate::testutil::sqlstate_of;
    use pgrx::prelude::*;

    /// Payments of every supported kind: region sets the amount, business hours on weekdays.
    fn payments() {
        Spi::run(
            "CREATE TYPE pay_kind AS ENUM ('card', 'wire', 'cash');
             CREATE TABLE pay AS
             SELECT i AS id,
                    (ARRAY['north','south','east','west'])[1 + i % 4]::varchar(10) AS region,
                    (100 * (1 + i % 4) + (i * 7919) % 10)::numeric(10,2) AS amount,
                    (i % 3 = 0) AS refunded,
                    (ARRAY['card','wire','cash'])[1 + i % 3]::pay_kind AS kind,
                    timestamptz '2026-11-23 09:00+00' + ((i % 5) || ' days')::interval + ((i * 37) % 480 || ' minutes')::interval AS paid_at,
                    date '2026-11-23' + (i % 5) AS booked_on,
                    ('c' || (i % 4))::char(4) AS code
               FROM generate_series(1, 800) AS i",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Spi::run("SELECT ssad_train('pay_m', 'pay', exclude => ARRAY['id'])")
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[pg_test]
    fn every_supported_type_trains_and_scores() {
        payments();
        let cols = Spi::get_one::<String>(
            "SELECT string_agg(c->>'name' || ':' || (c->>'kind'), ',') FROM ssad.models, jsonb_array_elements(columns) c WHERE name = 'pay_m'",
        );
        assert_eq!(
            cols,
            Ok(Some(
                "region:categorical,amount:numeric,refunded:categorical,kind:categorical,paid_at:time,paid_at#hour:categorical,paid_at#dow:categorical,booked_on:time,booked_on#dow:categorical,code:categorical"
                    .into()
            ))
        );
        let median = Spi::get_one::<f64>(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ssad_score('pay_m', p)) FROM pay p",
        )
        .ok()
        .flatten()
        .unwrap_or(f64::NAN);
        let one = |sql: &str| Spi::get_one::<f64>(sql).ok().flatten().unwrap_or(f64::NAN);
        // A west amount in the north, a 3 a.m. Sunday payment, an unseen region.
        let wrong_amount = one("SELECT ssad_score('pay_m', p) FROM (SELECT id, region, 400.0::numeric AS amount, refunded, kind, paid_at, booked_on, code FROM pay WHERE id = 4) p");
        let night = one("SELECT ssad_score('pay_m', p) FROM (SELECT id, region, amount, refunded, kind, timestamptz '2026-11-29 03:00+00' AS paid_at, booked_on, code FROM pay WHERE id = 4) p");
        let unseen = one("SELECT ssad_score('pay_m', p) FROM (SELECT id, 'atlantis'::text AS region, amount, refunded, kind, paid_at, booked_on, code FROM pay WHERE id = 4) p");
        for (what, s) in [
            ("amount", wrong_amount),
            ("night", night),
            ("unseen", unseen),
        ] {
            assert!(s > 2.0 * median, "{what}: {s} vs median {median}");
        }
        // Text types bind across text/varchar, char(n) padding is ignored like ::text does.
        let same = Spi::get_one::<bool>(
            "SELECT ssad_score('pay_m', p) = ssad_score('pay_m', q) FROM pay p,
               LATERAL (SELECT p.id, p.region::text AS region, p.amount::float8 AS amount, p.refunded, p.kind,
                               p.paid_at, p.booked_on, rtrim(p.code)::text AS code) q WHERE p.id = 7",
        );
        assert_eq!(same, Ok(Some(true)));
        // NULLs everywhere are scored.
        let nulls = one("SELECT ssad_score('pay_m', p) FROM (SELECT 1 AS id, NULL::text AS region, NULL::numeric AS amount, NULL::bool AS refunded, NULL::pay_kind AS kind, NULL::timestamptz AS paid_at, NULL::date AS booked_on, NULL::text AS code) p");
        assert!(nulls.is_finite() && nulls > median, "{nulls}");
    }

    #[pg_test]
    fn explain_names_categories_and_time_parts() {
        payments();
        let top = Spi::get_two::<String, String>(
            "SELECT e.column_name, e.expected FROM (SELECT id, region, amount, refunded, kind, timestamptz '2026-11-29 03:00+00' AS paid_at, booked_on, code FROM pay WHERE id = 4) p,
                    ssad_explain('pay_m', p) e WHERE e.observed IN ('03', 'sun') ORDER BY e.rank LIMIT 1",
        );
        let (col, _) = top.unwrap_or((None, None));
        assert!(
            matches!(col.as_deref(), Some("paid_at#hour" | "paid_at#dow")),
            "{col:?}"
        );
    }

    /// Rows that arrive after training are later than every training row:
    /// that alone is no evidence. Four weeks of orders; the same orders a
    /// week later (same weekdays and hours, within one training span of the
    /// range) score as the orders themselves; ten years later they stand out.
    #[pg_test]
    fn later_rows_are_not_anomalous_for_being_later() {
        Spi::run(
            "CREATE TABLE orders AS
             SELECT i AS id, (ARRAY['north','south','east'])[1 + i % 3] AS region,
                    (100 * (1 + i % 3) + (i * 7919) % 10)::float8 AS amount,
                    timestamptz '2026-10-05 08:00+00' + ((i * 13) % 28) * interval '1 day' + ((i * 37) % 600) * interval '1 minute' AS placed_at
               FROM generate_series(1, 2000) AS i;
             SELECT ssad_train('orders_m', 'orders', exclude => ARRAY['id'], options => '{\"seed\": 5}');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let stats = |shift: &str| {
            Spi::get_two::<f64, f64>(&format!(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ssad_score('orders_m', q)), max(ssad_score('orders_m', q))
                   FROM orders o, LATERAL (SELECT o.id, o.region, o.amount, o.placed_at + interval '{shift}' AS placed_at) q"
            ))
            .map(|(m, x)| (m.unwrap_or(f64::NAN), x.unwrap_or(f64::NAN)))
            .unwrap_or((f64::NAN, f64::NAN))
        };
        let (now, week, weeks, decade) = (
            stats("0 days"),
            stats("7 days"),
            stats("21 days"),
            stats("3640 days"),
        );
        // Measured: the median 0.53 / 0.53 / 0.76 / 201 and the largest
        // 2.2 / 2.4 (now, a week, three weeks, ten years). Without the
        // training span's grace a week later's largest is 15 and three
        // weeks' median 14.8.
        assert!(
            week.1 < 2.0 * now.1,
            "a week later: {week:?} against {now:?}"
        );
        assert!(
            weeks.0 < 2.0 * now.0,
            "three weeks later: {weeks:?} against {now:?}"
        );
        assert!(
            decade.0 > 10.0 * now.0,
            "ten years later: {decade:?} against {now:?}"
        );
    }

    /// Explanations show a date or timestamp column's values as the type
    /// prints them (in the session's time zone), not as epoch seconds; a
    /// prediction is rounded to the day or the second.
    #[pg_test]
    fn explain_shows_times_as_times() {
        payments();
        Spi::run("SET LOCAL TimeZone = 'America/New_York'").unwrap_or_else(|e| panic!("{e}"));
        let same = Spi::get_one::<bool>(
            "SELECT bool_and(CASE e.column_name WHEN 'paid_at' THEN e.observed = p.paid_at::text
                                                WHEN 'booked_on' THEN e.observed = p.booked_on::text END)
               FROM pay p, ssad_explain('pay_m', p) e
              WHERE p.id <= 20 AND e.column_name IN ('paid_at', 'booked_on')",
        );
        assert_eq!(same, Ok(Some(true)));
        let expected = Spi::get_two::<bool, bool>(
            "SELECT bool_and(e.expected::timestamptz = date_trunc('second', e.expected::timestamptz)) FILTER (WHERE e.column_name = 'paid_at'),
                    bool_and(e.expected::date IS NOT NULL) FILTER (WHERE e.column_name = 'booked_on')
               FROM pay p, ssad_explain('pay_m', p) e WHERE p.id <= 20",
        );
        assert_eq!(expected, Ok((Some(true), Some(true))));
        // Infinite times print as the types' infinities.
        let inf = Spi::get_two::<String, String>(
            "SELECT max(e.observed) FILTER (WHERE e.column_name = 'paid_at'), max(e.observed) FILTER (WHERE e.column_name = 'booked_on')
               FROM (SELECT id, region, amount, refunded, kind, 'infinity'::timestamptz AS paid_at, '-infinity'::date AS booked_on, code FROM pay WHERE id = 1) p,
                    ssad_explain('pay_m', p) e",
        );
        assert_eq!(inf, Ok((Some("infinity".into()), Some("-infinity".into()))));
    }

    /// An interval is a number of seconds: it trains, a duration that does not
    /// fit its kind scores high, top-k gives the inline scores bit for bit,
    /// and explanations print it as an interval.
    #[pg_test]
    fn intervals_are_durations() {
        Spi::run(
            "CREATE TABLE jobs AS
             SELECT (ARRAY['backup','report','sync'])[1 + i % 3] AS kind,
                    make_interval(mins => 10 * (1 + i % 3), secs => (i * 7919) % 60) AS took
               FROM generate_series(1, 900) AS i;
             SELECT ssad_train('jobs_m', 'jobs', options => '{\"seed\": 3}');",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let kinds = Spi::get_one::<String>(
            "SELECT string_agg(c->>'name' || ':' || (c->>'kind'), ',') FROM ssad.models, jsonb_array_elements(columns) c WHERE name = 'jobs_m'",
        );
        assert_eq!(kinds, Ok(Some("kind:categorical,took:numeric".into())));
        let one = |sql: &str| Spi::get_one::<f64>(sql).ok().flatten().unwrap_or(f64::NAN);
        let usual = one("SELECT max(ssad_score('jobs_m', j)) FROM jobs j");
        let odd = one("SELECT ssad_score('jobs_m', ROW('backup', interval '3 hours')::jobs)");
        assert!(odd > 2.0 * usual, "{odd} vs {usual}");
        let same = Spi::get_one::<bool>(
            "SELECT bool_and(a.score = ssad_score('jobs_m', j)) FROM ssad_top_anomalies('jobs_m', k => 900) a JOIN jobs j ON j.ctid = a.ctid",
        );
        assert_eq!(same, Ok(Some(true)));
        let shown = Spi::get_one::<String>(
            "SELECT e.observed FROM ssad_explain('jobs_m', ROW('backup', interval '3 hours')::jobs) e WHERE e.column_name = 'took'",
        );
        assert_eq!(shown, Ok(Some("03:00:00".into())));
    }

    /// Models `a` and `b` have the same bytes and columns, and score the
    /// rows `x` (for `a`) and `y` (for `b`) of `from` to the same bits, with
    /// the planner's rewrite on and off.
    fn same_model_and_scores(a: &str, b: &str, from: &str) {
        let same_model = Spi::get_one::<bool>(&format!(
            "SELECT x.model = y.model AND x.columns = y.columns FROM ssad.models x, ssad.models y WHERE x.name = '{a}' AND y.name = '{b}'"
        ));
        assert_eq!(same_model, Ok(Some(true)), "{a} and {b}");
        for inline in ["on", "off"] {
            Spi::run(&format!("SET LOCAL ssad.inline_columns = {inline}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let same = Spi::get_one::<bool>(&format!(
                "SELECT bool_and(ssad_score('{a}', x) = ssad_score('{b}', y)) FROM {from}"
            ));
            assert_eq!(same, Ok(Some(true)), "inline_columns = {inline}");
        }
    }

    /// Domains are read as their base types: the same table with every column
    /// behind a domain (stacked for one) trains the same model and scores the
    /// same bits, through the planner's rewrite and through the whole row.
    #[pg_test]
    fn domains_train_and_score_as_their_base_types() {
        payments();
        Spi::run(
            "CREATE DOMAIN money_amount AS numeric(10,2) CHECK (VALUE >= 0);
             CREATE DOMAIN positive_amount AS money_amount;
             CREATE DOMAIN region_name AS varchar(10);
             CREATE DOMAIN flag AS boolean;
             CREATE DOMAIN kind_d AS pay_kind;
             CREATE DOMAIN moment AS timestamptz;
             CREATE DOMAIN day AS date;
             CREATE DOMAIN code_d AS char(4);
             CREATE TABLE pay_d AS SELECT id, region::region_name AS region, amount::positive_amount AS amount,
                    refunded::flag AS refunded, kind::kind_d AS kind, paid_at::moment AS paid_at,
                    booked_on::day AS booked_on, code::code_d AS code FROM pay;
             SELECT ssad_train('pay_dm', 'pay_d', exclude => ARRAY['id']);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        same_model_and_scores("pay_m", "pay_dm", "pay x JOIN pay_d y USING (id)");
        // A domain over a type ssad does not read is still set aside.
        Spi::run("CREATE DOMAIN blob AS jsonb; CREATE TABLE only_blob AS SELECT '{}'::blob AS b")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sqlstate_of("SELECT ssad_train('nope', 'only_blob')"),
            "42804"
        );
    }

    /// money is read as its amount; uuid, inet, cidr, macaddr, macaddr8,
    /// bit and varbit as categories of the text the type prints (inet
    /// without the /32 that `::text` adds). The same values written by hand
    /// as numbers and texts train the same model and score the same bits,
    /// inline (rewritten or not) and in a scan.
    #[pg_test]
    fn money_and_printed_types_train_and_score_as_numbers_and_text() {
        Spi::run(
            "CREATE TABLE net AS
             SELECT i AS id,
                    ('00000000-0000-0000-0000-00000000000' || (i % 6))::uuid AS customer,
                    ('10.0.' || (i % 3) || '.' || (1 + i % 5))::inet AS ip,
                    ('10.' || (i % 4) || '.0.0/16')::cidr AS net,
                    ('08:00:2b:01:02:0' || (i % 3))::macaddr AS mac,
                    ('08:00:2b:01:02:03:04:0' || (i % 2))::macaddr8 AS mac8,
                    (i % 4)::bit(4) AS flags,
                    (i % 3)::bit(3)::varbit AS bits,
                    ((100 * (1 + i % 6) + (i * 7919) % 10)::numeric / 4)::money AS amount
               FROM generate_series(1, 600) AS i;
             CREATE TABLE net_t AS
             SELECT id, format('%s', customer) AS customer, format('%s', ip) AS ip, format('%s', net) AS net,
                    format('%s', mac) AS mac, format('%s', mac8) AS mac8, format('%s', flags) AS flags,
                    format('%s', bits) AS bits, amount::numeric::float8 AS amount FROM net;
             SELECT ssad_train('net_m', 'net', exclude => ARRAY['id']);
             SELECT ssad_train('net_tm', 'net_t', exclude => ARRAY['id']);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cols = Spi::get_one::<String>(
            "SELECT string_agg(c->>'name' || ':' || (c->>'kind'), ',') FROM ssad.models, jsonb_array_elements(columns) c WHERE name = 'net_m'",
        );
        assert_eq!(
            cols,
            Ok(Some(
                "customer:categorical,ip:categorical,net:categorical,mac:categorical,mac8:categorical,flags:categorical,bits:categorical,amount:numeric"
                    .into()
            ))
        );
        // No /32: the category is the printed address.
        assert_eq!(
            Spi::get_one::<String>("SELECT ip FROM net_t WHERE id = 1"),
            Ok(Some("10.0.1.2".into()))
        );
        same_model_and_scores("net_m", "net_tm", "net x JOIN net_t y USING (id)");
        let scan = Spi::get_one::<bool>(
            "SELECT bool_and(a.score = ssad_score('net_m', n)) FROM ssad_top_anomalies('net_m', k => 600) a JOIN net n ON n.ctid = a.ctid",
        );
        assert_eq!(scan, Ok(Some(true)));
        // Explanations print amounts as money prints them (observed: the
        // row's own text), and the model's expectation as money too.
        let shown = Spi::get_one::<bool>(
            "SELECT e.observed = n.amount::text AND e.expected::money IS NOT NULL
               FROM net n, ssad_explain('net_m', n) e WHERE n.id = 7 AND e.column_name = 'amount'",
        );
        assert_eq!(shown, Ok(Some(true)));
        // An address never seen in training is scored, and stands out.
        let novel = Spi::get_one::<bool>(
            "SELECT ssad_score('net_m', n2) > 2 * (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ssad_score('net_m', n)) FROM net n)
               FROM (SELECT id, customer, '192.168.7.7'::inet AS ip, net, mac, mac8, flags, bits, amount FROM net WHERE id = 1) n2",
        );
        assert_eq!(novel, Ok(Some(true)));
    }

    #[pg_test]
    fn time_parts_need_a_time_column() {
        payments();
        // paid_at as text cannot feed the hour and weekday parts.
        assert_eq!(
            sqlstate_of("SELECT ssad_score('pay_m', p) FROM (SELECT id, region, amount, refunded, kind, paid_at::text AS paid_at, booked_on, code FROM pay) p"),
            "42804"
        );
    }
}
