//! Human durations as experiment files and flags spell them: `500ms`, `30s`,
//! `2m`, `1h`, and sums such as `1m30s`.
//!
//! Pure: no clock, no IO. Owns parsing and printing; it does not know where a
//! duration came from (the caller adds file and field context to errors).

use std::fmt;
use std::time::Duration;

/// The longest duration anything in chaos accepts: one week. Larger values are
/// almost certainly a typo and would overflow schedules.
pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; expected a number with a unit such as `500ms`, `30s`, `2m`")]
    Empty,
    #[error("`{0}` is negative; durations must be positive")]
    Negative(String),
    #[error(
        "`{0}` is not a duration; expected a number with a unit (ms, s, m, h) such as `500ms`, `30s`, `1m30s`"
    )]
    Unparseable(String),
    #[error("`{0}` is longer than the maximum of one week")]
    TooLarge(String),
}

/// Parse `500ms`, `30s`, `1.5s`, `2m`, `1h`, `1m30s`. Zero is allowed here;
/// callers that need a positive duration check it themselves.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(s.to_string()));
    }
    let unparseable = || DurationError::Unparseable(s.to_string());
    let mut total_ms: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(unparseable)?;
        if num_len == 0 {
            return Err(unparseable());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| unparseable())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor_ms = match &rest[..unit_len] {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" | "min" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return Err(unparseable()),
        };
        rest = &rest[unit_len..];
        total_ms += number * factor_ms;
        if !total_ms.is_finite() || total_ms > MAX.as_millis() as f64 {
            return Err(DurationError::TooLarge(s.to_string()));
        }
    }
    Ok(Duration::from_micros((total_ms * 1_000.0).round() as u64))
}

/// Print a duration the way [`parse`] reads it, shortest first: `250ms`,
/// `1.5s`, `2m`, `1m30s`.
pub fn format(d: Duration) -> String {
    Human(d).to_string()
}

/// Display adapter for [`format`].
pub struct Human(pub Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1_000 {
            return write!(f, "{ms}ms");
        }
        if !ms.is_multiple_of(1_000) || ms < 60_000 {
            let secs = ms as f64 / 1_000.0;
            return write!(f, "{}s", trim_float(secs));
        }
        let total_s = ms / 1_000;
        let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("1.5s", 1_500),
            ("2m", 120_000),
            ("1m30s", 90_000),
            ("1h", 3_600_000),
            ("0s", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(parse(text), Ok(Duration::from_millis(ms)), "{text}");
        }
    }

    #[test]
    fn refuses_bad_text() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert!(matches!(parse("-5s"), Err(DurationError::Negative(_))));
        for bad in ["5", "s", "5 parsecs", "1..2s", "abc", "5sec"] {
            assert!(
                matches!(parse(bad), Err(DurationError::Unparseable(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse("9999h"), Err(DurationError::TooLarge(_))));
    }

    #[test]
    fn format_round_trips() {
        for ms in [
            0, 1, 250, 1_000, 1_500, 59_999, 60_000, 90_000, 3_600_000, 3_690_000,
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
        assert_eq!(format(Duration::from_millis(90_000)), "1m30s");
        assert_eq!(format(Duration::from_millis(1_500)), "1.5s");
    }
}
