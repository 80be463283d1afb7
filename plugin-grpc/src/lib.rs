//! The gRPC plugin runner: plugins that are external executables, spoken to
//! over gRPC with hashicorp/go-plugin's protocol.
//!
//! This crate owns the host half of that protocol:
//! - `confine`: the kernel's confinement of the process (Landlock, seccomp,
//!   a control group or resource limits), prepared in the host and applied
//!   between `fork` and `exec`, with a report of what is in force;
//! - `process`: starting the executable (own process group, parent-death
//!   signal, one launcher thread) and noticing its exit at once;
//! - `launch`: checksum, go-plugin's environment and handshake line (its
//!   address checked by `address`: the plugin's own socket or port), the
//!   connection and the `grpc.health.v1` check (sent at once, awaited by
//!   `start` beside `Init`);
//! - `broker`: `HostService` offered to the plugin through go-plugin's
//!   `GRPCBroker` (`host_service` serves it from the runner's
//!   [`HostApi`](plugin_core::HostApi));
//! - `functions`: how runner calls map to `PluginService` RPCs;
//! - `logs` and `stdio`: the plugin's stderr, stdout and go-plugin stdio
//!   stream forwarded to `tracing`, tagged with the plugin name;
//! - [`GrpcRunner`]: the [`Runner`](plugin_core::Runner) tying them together,
//!   with draining, `GRPCController.Shutdown`, a grace period and a kill.
//!
//! A plugin written with go-plugin in Go, with this workspace's SDK, or by
//! hand in any gRPC language loads unchanged. Unix only.

mod address;
mod broker;
mod confine;
mod connections;
mod diagnose;
mod error;
mod functions;
mod host_service;
mod launch;
mod logs;
mod process;
mod runner;
mod runtime;
mod stdio;

pub use confine::{ConfineError, preview as confinement_preview};
pub use error::LaunchError;
pub use runner::GrpcRunner;
pub use runtime::GrpcRuntime;

/// The parsers a plugin process feeds, for the fuzz targets (fuzz/); not a
/// stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Splits a line a plugin printed into its level, message and fields.
    pub fn parse_line(line: &str) -> (plugin_core::LogLevel, String, String) {
        crate::logs::parse_line(line)
    }
}
