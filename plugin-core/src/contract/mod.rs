//! The contracts: what a host, a runtime and a runner agree on.
//!
//! A [`Runtime`](runtime::Runtime) makes a [`Runner`](runner::Runner) per
//! plugin version; the runner reports its plugin's condition through
//! [`lifecycle`]; plugins reach their host through [`host::HostApi`] and
//! the [`host_functions`] table, under the identity policy of
//! [`identity`]; failures are [`error::RunnerError`]s.

pub mod error;
pub mod fn_runtime;
pub mod host;
pub mod host_functions;
pub mod identity;
pub mod in_flight;
pub mod lifecycle;
pub mod memory_host;
pub mod runner;
pub mod runtime;
