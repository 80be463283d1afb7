//! The `wasm:` section: the module and the sandbox it runs in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::limits::*;
use super::network::NetworkPermission;
use super::nullable;
use plugin_types::ByteSize;
pub use plugin_types::permissions::FsMode;

/// How a wasm plugin is run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmSection {
    /// The `.wasm` module; relative to the manifest's folder when loaded
    /// from a file. When the embedder gave the module as bytes
    /// ([`module_bytes`](Self::module_bytes)), no file is read and this
    /// only names the module in errors and logs.
    pub module: PathBuf,
    /// The module itself, when the embedder gave it in memory
    /// ([`WasmSection::from_bytes`]); the runner then reads no file. It is
    /// held to the same `max_artifact_size` as a file, and shares its
    /// compile cache. Never read from nor written to YAML: a manifest
    /// file always names a path.
    #[serde(skip)]
    pub module_bytes: Option<ModuleBytes>,
    /// What the guest may do.
    #[serde(default, deserialize_with = "nullable")]
    pub permissions: WasmPermissions,
    /// How many instances may run at once.
    #[serde(default, deserialize_with = "nullable")]
    pub pool: InstancePool,
}

/// A wasm module's bytes, given in memory by the embedder; clones share
/// them.
#[derive(Clone, PartialEq, Eq)]
pub struct ModuleBytes(Arc<[u8]>);

impl ModuleBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for ModuleBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleBytes({} bytes)", self.0.len())
    }
}

impl From<Arc<[u8]>> for ModuleBytes {
    fn from(bytes: Arc<[u8]>) -> Self {
        Self(bytes)
    }
}

impl From<Vec<u8>> for ModuleBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }
}

impl From<&[u8]> for ModuleBytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }
}

/// The sandbox a wasm plugin runs in. Anything not granted is denied.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WasmPermissions {
    /// Hosts `http_request` may reach; empty means no HTTP at all.
    #[serde(deserialize_with = "nullable")]
    pub http: Vec<HttpPermission>,
    /// Host folders the guest can see; empty means no filesystem.
    #[serde(deserialize_with = "nullable")]
    pub filesystem: Vec<FsPermission>,
    /// TCP ports the guest may connect to through `wasi:sockets`; empty
    /// means no sockets.
    #[serde(deserialize_with = "nullable")]
    pub network: NetworkPermission,
    /// The cap on the guest's linear memory.
    #[serde(deserialize_with = "nullable")]
    pub memory: MemoryLimit,
    /// The cap on one call's running time.
    #[serde(deserialize_with = "nullable")]
    pub execution: ExecutionLimit,
}

/// One allowlist entry for `http_request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPermission {
    /// A host name (`api.example.com`), a subdomain glob (`*.example.com`) or
    /// `*` for any host.
    pub host: String,
    /// `http` or `https`; absent: either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The port; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl HttpPermission {
    /// Any scheme and port of `host`.
    pub fn host(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            scheme: None,
            port: None,
        }
    }
}

impl std::fmt::Display for HttpPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// One folder made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsPermission {
    /// The folder.
    pub path: PathBuf,
    /// `read` (the default) or `readwrite`.
    #[serde(default)]
    pub mode: FsMode,
}

/// The cap on a guest's linear memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryLimit {
    /// Largest size the memory may grow to (default 64 MiB).
    pub max: ByteSize,
}

impl Default for MemoryLimit {
    fn default() -> Self {
        Self {
            max: DEFAULT_MEMORY_MAX,
        }
    }
}

/// The cap on one call's running time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionLimit {
    /// A call running longer is interrupted (default 30 s).
    #[serde(with = "plugin_types::duration::serde_str")]
    pub timeout: Duration,
}

impl Default for ExecutionLimit {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_EXECUTION_TIMEOUT,
        }
    }
}

/// The bounded pool of instances calls run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstancePool {
    /// The most instances alive at once (default 4).
    pub max_instances: u32,
    /// How long a call waits for a free instance before failing (default 5 s).
    #[serde(with = "plugin_types::duration::serde_str")]
    pub wait_timeout: Duration,
}

impl Default for InstancePool {
    fn default() -> Self {
        Self {
            max_instances: DEFAULT_POOL_MAX_INSTANCES,
            wait_timeout: DEFAULT_POOL_WAIT_TIMEOUT,
        }
    }
}

impl WasmSection {
    /// A section running the module at `path`, with the default
    /// permissions (none) and pool.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        Self {
            module: path.into(),
            module_bytes: None,
            permissions: WasmPermissions::default(),
            pool: InstancePool::default(),
        }
    }

    /// A section running the module `bytes` (no file is read), which
    /// errors and logs call `name` (for example `echo.wasm`), with the
    /// default permissions (none) and pool.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: impl Into<ModuleBytes>) -> Self {
        Self {
            module_bytes: Some(bytes.into()),
            ..Self::from_path(name)
        }
    }

    pub(super) fn validate(&self) -> Result<(), FieldError> {
        if self.module.as_os_str().is_empty() {
            return Err(FieldError::new("wasm.module", "must not be empty"));
        }
        for (i, entry) in self.permissions.http.iter().enumerate() {
            check_host_pattern(&entry.host)
                .map_err(|m| FieldError::new(format!("wasm.permissions.http[{i}].host"), m))?;
            if let Some(scheme) = &entry.scheme
                && !matches!(scheme.as_str(), "http" | "https")
            {
                return Err(FieldError::new(
                    format!("wasm.permissions.http[{i}].scheme"),
                    format!("{scheme:?} is not a scheme the host speaks; write http or https"),
                ));
            }
        }
        for (i, entry) in self.permissions.filesystem.iter().enumerate() {
            if entry.path.as_os_str().is_empty() {
                return Err(FieldError::new(
                    format!("wasm.permissions.filesystem[{i}].path"),
                    "must not be empty",
                ));
            }
        }
        self.permissions
            .network
            .validate("wasm.permissions.network")?;
        let max = self.permissions.memory.max;
        if max < MIN_MEMORY_MAX || max > MAX_MEMORY_MAX {
            return Err(FieldError::new(
                "wasm.permissions.memory.max",
                format!("{max} is out of range ({MIN_MEMORY_MAX} to {MAX_MEMORY_MAX})"),
            ));
        }
        let timeout = self.permissions.execution.timeout;
        if timeout.is_zero() || timeout > MAX_EXECUTION_TIMEOUT {
            return Err(FieldError::new(
                "wasm.permissions.execution.timeout",
                format!(
                    "{} is out of range (more than 0s, at most {})",
                    plugin_types::duration::format(timeout),
                    plugin_types::duration::format(MAX_EXECUTION_TIMEOUT)
                ),
            ));
        }
        let instances = self.pool.max_instances;
        if !(1..=MAX_POOL_MAX_INSTANCES).contains(&instances) {
            return Err(FieldError::new(
                "wasm.pool.max_instances",
                format!("{instances} is out of range (1 to {MAX_POOL_MAX_INSTANCES})"),
            ));
        }
        if self.pool.wait_timeout > MAX_POOL_WAIT_TIMEOUT {
            return Err(FieldError::new(
                "wasm.pool.wait_timeout",
                format!(
                    "{} is out of range (0s to {})",
                    plugin_types::duration::format(self.pool.wait_timeout),
                    plugin_types::duration::format(MAX_POOL_WAIT_TIMEOUT)
                ),
            ));
        }
        Ok(())
    }
}

/// Checks that an allowlist entry is a host name, `*.domain` or `*`.
pub(crate) fn check_host_pattern(pattern: &str) -> Result<(), String> {
    if pattern == "*" {
        return Ok(());
    }
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if pattern.contains("://") || pattern.contains('/') {
        return Err(format!(
            "{pattern:?} is a URL; write a host name like \"api.example.com\" or \"*.example.com\""
        ));
    }
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!(
            "{pattern:?} is not a host name; write one like \"api.example.com\", \"*.example.com\" or \"*\""
        ));
    }
    Ok(())
}
