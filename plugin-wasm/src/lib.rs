//! The WebAssembly plugin runner.
//!
//! This crate owns [`WasmRunner`], the [`plugin_core::Runner`] that executes
//! wasm plugins in-process on wasmtime: the guest ABI (`docs/wasm-abi.md`),
//! the `flowbot` host-function table backed by a [`plugin_core::HostApi`],
//! WASI preview 1, the sandbox limits of the manifest and the bounded
//! instance pool; and [`WasmEngine`], the engine the embedder makes (from
//! its own `wasmtime::Config` if it likes) and runners share, with
//! wasmtime's on-demand or pooling instance allocator and its own epoch
//! ticker.
//!
//! Limits that hold:
//! - **memory**: a guest cannot grow its memories past `memory.max`, all of
//!   an instance's together (a component's core instances, a module's
//!   several memories; at most 16 memories, 64 tables and 256 core
//!   instances each); the call fails with "limit exceeded" and the host is
//!   unaffected;
//! - **code**: the module is a regular file within the host's
//!   `max_artifact_size` ([`WasmRunner::with_max_artifact_size`]), read
//!   with that bound, or bytes the embedder gave within the same bound;
//! - **host calls**: what a guest hands the host is bounded before it is
//!   copied, and an event's `source` is the plugin's name whatever the
//!   guest wrote (`docs/wasm-abi.md`);
//! - **execution time**: a call running past `execution.timeout` (busy in
//!   wasm or waiting on the host) fails with "timed out" within about one
//!   epoch tick, and its instance is discarded;
//! - **filesystem**: only the folders the host granted (see
//!   [`plugin_core::grant`]; [`WasmRunner::with_granted`]) are visible, each
//!   canonical folder at the path the manifest wrote (`/data` for `$DATA`),
//!   read-only unless `readwrite`;
//! - **pool**: at most `pool.max_instances` instances exist; a call finding
//!   none free waits up to `pool.wait_timeout`, then fails "pool exhausted";
//!   on a [pooling](WasmEngine::pooling) engine they are reserved at load
//!   from the engine's fixed slots, and a plugin that does not fit is
//!   refused;
//! - **faults**: a trap, a bad pointer, a malformed envelope or a missing
//!   export fails that call only; an instance that trapped is never reused,
//!   and the next call runs on a fresh, initialised instance.

mod abi;
mod cache;
mod call_shim;
mod component;
mod core_state;
mod deadline;
mod engine;
mod host_functions;
mod instance;
mod limits;
mod output;
mod pool;
mod runner;
mod runtime;
mod sandbox;
mod state;

pub use cache::{DEFAULT_MEMORY_BUDGET, ModuleCache};
pub use component::{MAX_HTTP_BODY, WORLD_VERSION};
pub use engine::{EPOCH_TICK, EngineError, MAX_TABLE_ELEMENTS, PoolingRefusal, WasmEngine};
/// The pooling allocator's settings [`WasmEngine::pooling`] takes: the
/// host configuration's `plugins.wasm.pooling`.
pub use plugin_types::WasmPooling;
pub use runner::WasmRunner;
pub use runtime::WasmRuntime;

/// The parsers a guest feeds, for the fuzz targets (fuzz/); not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes the result envelope a guest returns: the data's JSON text,
    /// or the error the function reported; `Err` when it is malformed.
    pub fn decode_envelope(bytes: &[u8]) -> Result<Result<String, String>, String> {
        Ok(match crate::abi::decode_envelope(bytes)? {
            crate::abi::Outcome::Data(data) => Ok(data.get().to_owned()),
            crate::abi::Outcome::Error(error) => Err(error),
        })
    }
}
