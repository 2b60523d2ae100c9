//! Wall-clock times as the API writes them: RFC 3339, UTC, to the millisecond.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// `2026-11-30T17:02:11.123Z`. Times before 1970 are written as the epoch.
pub(crate) fn rfc3339_millis(at: SystemTime) -> String {
    Rfc3339Millis(at).to_string()
}

/// A time written as [`rfc3339_millis`] writes it, without a `String` of its own: for
/// serializers (`serialize_with`/`collect_str`) that write it straight into their output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rfc3339Millis(pub(crate) SystemTime);

impl Rfc3339Millis {
    /// The 24 characters, digit by digit: the event stream writes one per exchange, and the
    /// formatting machinery cost more than the rest of the event.
    pub(crate) fn ascii(self) -> [u8; 24] {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let ((year, month, day), secs_of_day) = civil(since.as_secs());
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: u64| {
            for i in (at..at + width).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year.min(9999));
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, secs_of_day / 3600);
        put(14, 2, secs_of_day / 60 % 60);
        put(17, 2, secs_of_day % 60);
        put(20, 3, u64::from(since.subsec_millis()));
        text
    }
}

impl fmt::Display for Rfc3339Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.ascii();
        // Digits and ASCII punctuation only.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Rfc3339Millis {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `2026-11-30T17:02:11Z`: whole seconds, for the per-second series.
pub(crate) fn rfc3339_seconds(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let ((year, month, day), secs_of_day) = civil(since.as_secs());
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// The date (year, month, day) and the second of the day of a Unix time, by Howard Hinnant's
/// days-from-civil algorithm run backwards (proleptic Gregorian calendar).
fn civil(unix_secs: u64) -> ((u64, u64, u64), u64) {
    let days = unix_secs / 86_400;
    let secs_of_day = unix_secs % 86_400;
    // Shift the epoch to 0000-03-01, so that a leap day ends its year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    ((year, month, day), secs_of_day)
}

/// Milliseconds as the API writes durations: a float with microsecond precision.
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let at = |secs: u64, millis: u64| UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis);
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(at(951_782_400, 5)),
            "2000-02-29T00:00:00.005Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_796_058_131, 123)),
            "2026-11-30T17:02:11.123Z"
        );
        assert_eq!(
            rfc3339_seconds(at(4_107_542_399, 999)),
            "2100-02-28T23:59:59Z"
        );
        assert_eq!(
            rfc3339_seconds(at(4_107_542_400, 0)),
            "2100-03-01T00:00:00Z"
        );
    }

    #[test]
    fn durations_in_milliseconds() {
        assert_eq!(millis(Duration::from_micros(12_500)), 12.5);
        assert_eq!(millis(Duration::from_nanos(1_234_567)), 1.234);
    }
}
