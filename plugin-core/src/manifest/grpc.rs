//! The `grpc:` section: the plugin executable and how to launch it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use super::error::FieldError;

/// How a gRPC plugin is launched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// The executable; relative to the manifest's folder when loaded from a file.
    pub binary: PathBuf,
    /// Arguments passed to it.
    #[serde(default, deserialize_with = "super::nullable")]
    pub args: Vec<String>,
    /// Expected digest of the executable, checked before it is run
    /// (extension: `sha256:<64 hex digits>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
}

impl GrpcConfig {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        if self.binary.as_os_str().is_empty() {
            return Err(FieldError::new("grpc.binary", "must not be empty"));
        }
        Ok(())
    }
}

/// A SHA-256 digest an executable must match, written `sha256:<hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum {
    sha256: [u8; 32],
}

impl Checksum {
    /// A checksum from a raw SHA-256 digest.
    pub const fn sha256(digest: [u8; 32]) -> Self {
        Self { sha256: digest }
    }

    /// The expected SHA-256 digest.
    pub fn digest(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// Text that is not a `sha256:<hex>` checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a checksum; write \"sha256:\" followed by 64 hex digits")]
pub struct ParseChecksumError(String);

impl FromStr for Checksum {
    type Err = ParseChecksumError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseChecksumError(text.to_owned());
        let hex = text.strip_prefix("sha256:").ok_or_else(error)?.as_bytes();
        if hex.len() != 64 {
            return Err(error());
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| error())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| error())?;
        }
        Ok(Self::sha256(digest))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        self.sha256.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Serialize for Checksum {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_round_trips() {
        let text = format!("sha256:{}", "ab".repeat(32));
        let checksum: Checksum = text.parse().unwrap();
        assert_eq!(checksum.digest(), &[0xab; 32]);
        assert_eq!(checksum.to_string(), text);
        let upper: Checksum = format!("sha256:{}", "AB".repeat(32)).parse().unwrap();
        assert_eq!(upper, checksum);
    }

    #[test]
    fn checksum_refuses_other_forms() {
        for bad in [
            "ab".repeat(32),
            format!("md5:{}", "ab".repeat(16)),
            format!("sha256:{}", "ab".repeat(31)),
            format!("sha256:{}zz", "ab".repeat(31)),
            format!("sha256:{}é", "a".repeat(62)),
        ] {
            assert!(bad.parse::<Checksum>().is_err(), "{bad}");
        }
    }
}
