//! Byte sizes as people write them: `"64MB"`, `"64MiB"`, `"512KB"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// A number of bytes, written with a decimal (`KB`, `MB`, `GB`: powers of
/// 1000) or binary (`KiB`, `MiB`, `GiB`: powers of 1024) unit, or as a plain
/// integer of bytes. Units are case-insensitive; a space before the unit is
/// allowed. It serializes as a plain integer of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` kibibytes (1024 bytes each).
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }

    /// `n` mebibytes (1024² bytes each).
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }

    /// `n` gibibytes (1024³ bytes each).
    pub const fn gib(n: u64) -> Self {
        Self(n * 1024 * 1024 * 1024)
    }

    /// The number of bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

/// A string that is not a byte size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSizeError(String);

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a size; write one like \"64MB\", \"64MiB\" or \"512KB\"",
            self.0
        )
    }
}

impl std::error::Error for ParseSizeError {}

impl FromStr for ByteSize {
    type Err = ParseSizeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        // bytesize accepts fractions ("1.5 GB") and bare numbers; it refuses
        // negative numbers, unknown units and empty input.
        let has_digit = text.starts_with(|c: char| c.is_ascii_digit());
        match text.parse::<bytesize::ByteSize>() {
            Ok(size) if has_digit => Ok(Self(size.as_u64())),
            _ => Err(ParseSizeError(input.to_owned())),
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (unit, size) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Bytes(u64),
            Text(String),
            Other(serde_json::Value),
        }
        match Written::deserialize(deserializer)? {
            Written::Bytes(n) => Ok(Self(n)),
            Written::Text(text) => text.parse().map_err(D::Error::custom),
            Written::Other(value) => Err(D::Error::custom(ParseSizeError(value.to_string()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_binary_units() {
        let cases = [
            ("64MB", 64_000_000),
            ("64MiB", 64 * 1024 * 1024),
            ("512KB", 512_000),
            ("512 KiB", 512 * 1024),
            ("1GiB", 1 << 30),
            ("2gb", 2_000_000_000),
            ("4096", 4096),
            ("100B", 100),
        ];
        for (text, bytes) in cases {
            assert_eq!(text.parse::<ByteSize>().unwrap(), ByteSize(bytes), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_size() {
        for bad in ["64XB", "", "MB", "-5MB", "lots", "64 M B"] {
            let err = bad.parse::<ByteSize>().unwrap_err().to_string();
            assert!(err.contains("is not a size"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn reads_integers_and_strings_and_displays_compactly() {
        let size: ByteSize = serde_json::from_str("65536").unwrap();
        assert_eq!(size, ByteSize::kib(64));
        let size: ByteSize = serde_json::from_str("\"64MiB\"").unwrap();
        assert_eq!(size.to_string(), "64MiB");
        assert_eq!(ByteSize(1500).to_string(), "1500B");
        let err = serde_json::from_str::<ByteSize>("true").unwrap_err();
        assert!(err.to_string().contains("is not a size"), "{err}");
    }
}
