//! The core of the plugin runtime: the contracts hosts, runtimes and
//! runners implement ([`contract`]), the manifest ([`manifest`]) and the
//! host's policy ([`policy`]).
//!
//! This crate owns
//! - [`Manifest`]: parsing and validating `plugin.yaml` ([`manifest`]), with
//!   defaults and ranges in one place ([`manifest::limits`]) and errors that
//!   name the file and the field;
//! - [`ConfigSchema`]: a plugin's `config_schema`, compiled at load and checked
//!   with every violation reported by JSON pointer ([`schema`]);
//! - in [`contract`]: the [`Runtime`] trait a host registers an execution environment by
//!   ([`runtime`]), the [`Runner`] trait it makes for each plugin version,
//!   with [`PluginInfo`], [`HealthStatus`], [`PluginState`] and
//!   [`RunnerError`], and what runners share: [`Lifecycle`] (phase, last
//!   error, and the [`Report`]s a runner pushes through
//!   [`LifecycleEvents`]) and [`InFlight`] (waiting for calls in flight);
//!   [`FnRuntime`], plugins of Rust closures in the host's process;
//! - the [`HostApi`] trait a host implements to serve plugin callbacks, and
//!   [`MemoryHost`], a complete in-memory one; [`Identified`], what every
//!   runner serves its plugin's host calls through (the identity fields
//!   the host sets, the bounds it holds them to); [`HostFunctions`], the
//!   table of host functions a plugin calls by name (JSON in, JSON out);
//! - in [`policy`]: [`Artifact`], a plugin's code read as a bounded regular
//!   file ([`artifact`]);
//! - [`HostGrants`]: the manifest asks, the host grants ([`grant`]): what a
//!   plugin gets is checked against the host's permission policy at load,
//!   and each folder granted is held open ([`GrantedDir`]) so that nothing
//!   is looked up by path again;
//! - the network rules: [`HttpRequestRule`] (where a plugin's HTTP request
//!   may go, and which headers it may not set) and [`AddressRules`] (which
//!   addresses are not public);
//! - hardened YAML reading for every file a person writes ([`yaml`]), and
//!   byte sizes ([`ByteSize`]).
//!
//! ```
//! use plugin_core::Manifest;
//!
//! let manifest = Manifest::parse("
//! name: echo
//! version: 1.0.0
//! runtime: wasm
//! wasm:
//!   module: echo.wasm
//!   permissions:
//!     memory: { max: 16MiB }
//! ").unwrap();
//! assert_eq!(manifest.runtime, "wasm");
//! let wasm = manifest.wasm.unwrap();
//! assert_eq!(wasm.permissions.memory.max.bytes(), 16 * 1024 * 1024);
//! assert_eq!(wasm.pool.max_instances, 4); // the default
//! ```

pub mod contract;
pub mod policy;
pub use contract::{
    error, fn_runtime, host, host_functions, identity, in_flight, lifecycle, memory_host, runner,
    runtime,
};
pub use policy::{address, artifact, grant, granted_dir, http_allowlist, http_request_rule};
pub mod bounded;
pub mod manifest;
pub mod schema;
pub mod yaml;

pub use address::AddressRules;
pub use artifact::{Artifact, ArtifactError};
pub use error::{RunnerError, RunnerErrorKind};
pub use fn_runtime::{FnPlugin, FnRuntime};
pub use grant::{GrantError, Granted, HostGrants, Preopen, ProcessGrant};
pub use granted_dir::GrantedDir;
pub use host::{HostApi, HostError, HostHttpRequest, HostHttpResponse, LogLevel, log_to_tracing};
pub use host_functions::{HostCallContext, HostFunction, HostFunctions};
pub use http_allowlist::HttpAllowlist;
pub use http_request_rule::{HttpRefusal, HttpRequestRule};
pub use identity::{Identified, stamp_event};
pub use in_flight::{InFlight, Pass};
pub use lifecycle::HealthStatus;
pub use lifecycle::{Condition, Lifecycle, LifecycleEvents, Phase, Report, Reporter};
pub use manifest::{
    AbilityDecl, Checksum, ExecutionLimit, FsMode, FsPermission, GRPC_RUNTIME, GrpcSection,
    GrpcTimeouts, HttpPermission, InstancePool, MANIFEST_FILE_NAME, Manifest, ManifestBuilder,
    ManifestError, ManifestErrorKind, MemoryLimit, ModuleBytes, ProviderDecl, Provides,
    WASM_RUNTIME, WasmPermissions, WasmSection,
};
pub use memory_host::{MemoryHost, config_lookup};
pub use plugin_types::ByteSize;
pub use runner::{PluginInfo, PluginState, Runner};
pub use runtime::{RunnerSetup, Runtime};
pub use schema::{ConfigError, ConfigSchema, SchemaError, Violation};
