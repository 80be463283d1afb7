//! Durations as people write them: `"30s"`, `"1m30s"`, `"500ms"`, `"2h"`.
//!
//! Parsing accepts everything [`humantime::parse_duration`] accepts (so both
//! `"1m30s"` and `"1m 30s"`); formatting writes the compact Go style
//! (`"1m30s"`, `"1.5s"` is written `"1s500ms"`), which parses back to the same
//! value. Bare numbers are refused: `30` could mean seconds or nanoseconds, so
//! a unit is required.
//!
//! Use [`serde_str`] / [`serde_opt_str`] with `#[serde(with = "...")]` on
//! `Duration` / `Option<Duration>` fields.

use std::fmt::Write as _;
use std::time::Duration;

/// A duration string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
    reason: String,
}

impl std::fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not a duration ({}); write one like \"30s\", \"1m30s\" or \"500ms\"",
            self.input, self.reason
        )
    }
}

impl std::error::Error for ParseDurationError {}

/// Parses a human duration such as `"30s"` or `"1m30s"`.
pub fn parse(input: &str) -> Result<Duration, ParseDurationError> {
    let trimmed = input.trim();
    let error = |reason: String| ParseDurationError {
        input: input.to_owned(),
        reason,
    };
    if trimmed.is_empty() {
        return Err(error("it is empty".to_owned()));
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) && trimmed != "0" {
        return Err(error("a unit is missing".to_owned()));
    }
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(trimmed).map_err(|e| error(e.to_string()))
}

/// Formats a duration compactly, Go style: `"1m30s"`, `"250ms"`, `"0s"`.
pub fn format(duration: Duration) -> String {
    const UNITS: [(&str, u128); 7] = [
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
        ("", 0),
    ];
    let mut rest = duration.as_nanos();
    if rest == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if size == 0 || rest == 0 {
            break;
        }
        let count = rest / size;
        if count > 0 {
            // Writing to a String cannot fail.
            let _ = write!(out, "{count}{unit}");
            rest -= count * size;
        }
    }
    out
}

/// Serde adapter for `Duration` fields written as human strings.
pub mod serde_str {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::time::Duration;

    /// Writes the duration as a compact string (`"1m30s"`).
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*value))
    }

    /// Reads a human duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = super::DurationText::deserialize(deserializer)?;
        super::parse(&text.0).map_err(D::Error::custom)
    }
}

/// Serde adapter for `Option<Duration>` fields written as human strings
/// (`null` or a missing field is `None`).
pub mod serde_opt_str {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use std::time::Duration;

    /// Writes `Some` as a compact string and `None` as null.
    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_str(&super::format(*d)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an optional human duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        match Option::<super::DurationText>::deserialize(deserializer)? {
            Some(text) => super::parse(&text.0).map(Some).map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

/// The written form of a duration: a string, with numbers accepted only so
/// that a bare `30` gets the "unit is missing" message instead of a type error.
struct DurationText(String);

impl<'de> serde::Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = DurationText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as \"30s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse(" 5s ").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "  ", "30", "abc", "5 parsecs", "-5s", "s"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("is not a duration"), "{bad:?}: {err}");
        }
        assert!(
            parse("30")
                .unwrap_err()
                .to_string()
                .contains("unit is missing")
        );
    }

    #[test]
    fn formats_compactly_and_round_trips() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(1500), "1s500ms"),
            (Duration::from_secs(3600 * 25 + 1), "25h1s"),
            (Duration::from_nanos(1_001), "1us1ns"),
        ];
        for (duration, text) in cases {
            assert_eq!(format(duration), text);
            assert_eq!(parse(text).unwrap(), duration, "{text}");
        }
    }
}
