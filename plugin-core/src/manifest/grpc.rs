//! The `grpc:` section: the plugin executable, how to launch it, and the
//! confinement its process asks for.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use super::error::FieldError;
use super::limits::*;
use super::network::NetworkPermission;
use super::nullable;
use super::wasm::FsPermission;
use plugin_types::ByteSize;
use plugin_types::Cores;

/// How a gRPC plugin is launched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSection {
    /// The executable; relative to the manifest's folder when loaded from a file.
    pub binary: PathBuf,
    /// Arguments passed to it.
    #[serde(default, deserialize_with = "super::nullable")]
    pub args: Vec<String>,
    /// Expected digest of the executable, checked before it is run
    /// (extension: `sha256:<64 hex digits>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    /// Variables set in the process's environment, beyond the scrubbed
    /// one the host gives every plugin (the host grants the names).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub env: BTreeMap<String, String>,
    /// What the process may reach, enforced by the kernel.
    #[serde(default, deserialize_with = "nullable")]
    pub permissions: ProcessPermissions,
    /// Which transport the host asks the plugin to listen on (`unix`, the
    /// default, or `tcp`). go-plugin's own plugins choose for themselves
    /// (unix, on Linux); this workspace's SDK follows the host's ask.
    #[serde(default)]
    pub transport: Transport,
    /// go-plugin's AutoMTLS: mutual TLS between host and plugin with a fresh
    /// certificate each side, pinned, on the plugin's server and on the
    /// host's broker alike. Absent: on, over `unix` as over `tcp` (a socket
    /// reached by accident refuses a stranger); `false` for a plugin that
    /// does not speak it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_mtls: Option<bool>,
    /// How long the host waits for the plugin to start, for each call and
    /// for it to exit when asked (the call timeout within the host's
    /// `timeout` grant).
    #[serde(default, deserialize_with = "nullable")]
    pub timeouts: GrpcTimeouts,
}

/// `grpc.timeouts`: what the host waits for, per plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcTimeouts {
    /// For the handshake, the health check and `Init` (default 10 s).
    #[serde(with = "plugin_types::duration::serde_str")]
    pub start: std::time::Duration,
    /// For each call, also sent as its gRPC deadline (default 30 s; at most
    /// what the host's `timeout` grant allows).
    #[serde(with = "plugin_types::duration::serde_str")]
    pub call: std::time::Duration,
    /// Between asking the plugin to exit and killing it (default 2 s).
    #[serde(with = "plugin_types::duration::serde_str")]
    pub shutdown: std::time::Duration,
}

impl Default for GrpcTimeouts {
    fn default() -> Self {
        Self {
            start: DEFAULT_GRPC_START_TIMEOUT,
            call: DEFAULT_GRPC_CALL_TIMEOUT,
            shutdown: DEFAULT_GRPC_SHUTDOWN_TIMEOUT,
        }
    }
}

impl GrpcTimeouts {
    fn validate(&self) -> Result<(), FieldError> {
        let fields = [
            ("start", self.start, MAX_GRPC_START_TIMEOUT),
            ("call", self.call, MAX_EXECUTION_TIMEOUT),
            ("shutdown", self.shutdown, MAX_GRPC_SHUTDOWN_TIMEOUT),
        ];
        for (field, value, max) in fields {
            if value.is_zero() || value > max {
                return Err(FieldError::new(
                    format!("grpc.timeouts.{field}"),
                    format!(
                        "{} is out of range: more than 0 and at most {}",
                        plugin_types::duration::format(value),
                        plugin_types::duration::format(max)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The socket a plugin listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A unix socket in the host's socket folder.
    #[default]
    Unix,
    /// A loopback TCP port in the host's port range.
    Tcp,
}

impl GrpcSection {
    /// Whether the host negotiates mutual TLS with this plugin: unless
    /// `auto_mtls: false`, yes.
    pub fn mtls(&self) -> bool {
        self.auto_mtls.unwrap_or(true)
    }
}

/// The confinement a plugin process asks for. Anything not asked is denied:
/// no files outside its own folders and the system's, no network, the
/// default memory and process caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessPermissions {
    /// Host folders the process may use beyond its own (same shape and
    /// grants as `wasm.permissions.filesystem`; an interpreter's folder, say).
    #[serde(deserialize_with = "nullable")]
    pub filesystem: Vec<FsPermission>,
    /// The network it may use.
    #[serde(deserialize_with = "nullable")]
    pub network: NetworkPermission,
    /// The cap on its memory.
    #[serde(deserialize_with = "nullable")]
    pub memory: ProcessMemoryLimit,
    /// The cap on its processes and threads, together (default 256).
    pub processes: u32,
    /// The cap on its CPU time, in cores (`0.5`: half of one core's time).
    /// Absent: the host's `process_cpu` when it sets one, else no cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cores>,
}

/// The cap on a plugin process's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessMemoryLimit {
    /// The most memory it may use (default 1 GiB).
    pub max: ByteSize,
}

impl Default for ProcessMemoryLimit {
    fn default() -> Self {
        Self {
            max: DEFAULT_PROCESS_MEMORY_MAX,
        }
    }
}

impl Default for ProcessPermissions {
    fn default() -> Self {
        Self {
            filesystem: Vec::new(),
            network: NetworkPermission::default(),
            memory: ProcessMemoryLimit::default(),
            processes: DEFAULT_PROCESSES,
            cpu: None,
        }
    }
}

/// Variables the host sets itself, which `grpc.env` may not: go-plugin's,
/// the home and temporary folders, and the loader's.
pub fn reserved_env(name: &str) -> bool {
    matches!(name, "HOME" | "TMPDIR" | "FLOWBOT_PLUGIN")
        || name.starts_with("PLUGIN_")
        || name.starts_with("LD_")
}

impl GrpcSection {
    pub(super) fn validate(&self) -> Result<(), FieldError> {
        if self.binary.as_os_str().is_empty() {
            return Err(FieldError::new("grpc.binary", "must not be empty"));
        }
        self.timeouts.validate()?;
        for (name, value) in &self.env {
            let field = || format!("grpc.env.{name}");
            let well_formed = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            if !well_formed {
                return Err(FieldError::new(
                    field(),
                    "is not a variable name (letters, digits and _, not starting with a digit)",
                ));
            }
            if reserved_env(name) {
                return Err(FieldError::new(
                    field(),
                    "is set by the host (HOME, TMPDIR, FLOWBOT_PLUGIN, PLUGIN_*, LD_*); remove it",
                ));
            }
            if value.contains('\0') {
                return Err(FieldError::new(field(), "must not contain a NUL byte"));
            }
        }
        let permissions = &self.permissions;
        for (i, entry) in permissions.filesystem.iter().enumerate() {
            if entry.path.as_os_str().is_empty() {
                return Err(FieldError::new(
                    format!("grpc.permissions.filesystem[{i}].path"),
                    "must not be empty",
                ));
            }
        }
        permissions.network.validate("grpc.permissions.network")?;
        let max = permissions.memory.max;
        if max < MIN_PROCESS_MEMORY_MAX {
            return Err(FieldError::new(
                "grpc.permissions.memory.max",
                format!("{max} is too small (at least {MIN_PROCESS_MEMORY_MAX})"),
            ));
        }
        let processes = permissions.processes;
        if !(1..=MAX_PROCESSES).contains(&processes) {
            return Err(FieldError::new(
                "grpc.permissions.processes",
                format!("{processes} is out of range (1 to {MAX_PROCESSES})"),
            ));
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
