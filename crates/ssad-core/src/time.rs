//! Time columns become a numeric time plus the cyclic parts people care
//! about: hour of day and day of week, as categories (a 3 a.m. payment or a
//! Sunday batch is evidence). Derived from seconds since the Unix epoch, so
//! the same value gives the same parts at training and scoring time.

use crate::schema::Value;
use std::borrow::Cow;

const HOURS: [&str; 24] = [
    "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15",
    "16", "17", "18", "19", "20", "21", "22", "23",
];
/// ISO days, Monday first.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Hour of day (0..24) of an epoch (UTC, or wall clock for timestamps without zone).
pub fn hour_of_day(epoch: f64) -> usize {
    (epoch.div_euclid(3600.0).rem_euclid(24.0)) as usize % 24
}

/// ISO day of week, 0 = Monday (1970-01-01 was a Thursday).
pub fn day_of_week(epoch: f64) -> usize {
    ((epoch.div_euclid(86_400.0) + 3.0).rem_euclid(7.0)) as usize % 7
}

/// The hour part as a categorical value.
pub fn hour_value(epoch: Option<f64>) -> Value<'static> {
    epoch.filter(|e| e.is_finite()).map_or(Value::Null, |e| {
        Value::Text(Cow::Borrowed(HOURS[hour_of_day(e)]))
    })
}

/// The day-of-week part as a categorical value.
pub fn day_value(epoch: Option<f64>) -> Value<'static> {
    epoch.filter(|e| e.is_finite()).map_or(Value::Null, |e| {
        Value::Text(Cow::Borrowed(DAYS[day_of_week(e)]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // 1970-01-01 00:00 was a Thursday.
        assert_eq!(day_of_week(0.0), 3);
        assert_eq!(hour_of_day(0.0), 0);
        // 2026-11-28 14:30:00 UTC is a Saturday.
        let e = 1_795_876_200.0;
        assert_eq!(hour_of_day(e), 14);
        assert_eq!(day_of_week(e), 5);
        // Before the epoch: 1969-12-31 23:00 was a Wednesday.
        assert_eq!(hour_of_day(-3600.0), 23);
        assert_eq!(day_of_week(-3600.0), 2);
        assert_eq!(hour_value(None), Value::Null);
        assert_eq!(day_value(Some(f64::NAN)), Value::Null);
    }
}
