//! Creating the runner a manifest's `runtime` names.

use std::sync::Arc;

use plugin_core::{
    ByteSize, Granted, HostApi, Manifest, Runner, RunnerError, RunnerErrorKind, RuntimeKind,
};
use plugin_grpc::{GrpcRunner, PluginExit};
use plugin_types::WasmSettings;
use plugin_wasm::{ModuleCache, WasmEngine, WasmRunner};
use tokio::sync::watch;

/// A runner, not yet loaded, and how to hear that its process died.
pub(crate) struct NewRunner {
    pub(crate) runner: Arc<dyn Runner>,
    /// For runners with a process (gRPC): `Some(exit)` once it exited.
    pub(crate) exits: Option<watch::Receiver<Option<PluginExit>>>,
}

/// What every wasm runner of the manager shares: the compile cache and
/// the engine.
pub(crate) struct WasmSetup {
    /// Where compiled modules are cached, if anywhere.
    pub(crate) cache: Option<ModuleCache>,
    /// The engine; `None` only if none could be made (logged), and then
    /// wasm plugins fail to load.
    pub(crate) engine: Option<WasmEngine>,
}

impl WasmSetup {
    /// The engine `plugins.wasm` asks for: a pooling one when `pooling`
    /// is set, else an on-demand one. A pooling one that cannot be made
    /// (the address space for its slots) is logged, and plugins run on an
    /// on-demand engine.
    pub(crate) fn engine_for(settings: &WasmSettings) -> Option<WasmEngine> {
        if let Some(pooling) = &settings.pooling {
            match WasmEngine::pooling(pooling) {
                Ok(engine) => return Some(engine),
                Err(e) => tracing::error!("{e}; wasm plugins run on the on-demand allocator"),
            }
        }
        WasmEngine::new()
            .inspect_err(|e| tracing::error!("{e}; wasm plugins cannot run"))
            .ok()
    }
}

/// The runner for `manifest`'s runtime, serving its callbacks with `host`,
/// holding the plugin to what the host `granted`, reading its code only if
/// it is a regular file of at most `max_artifact_size`.
pub(crate) fn new_runner(
    manifest: &Manifest,
    host: Arc<dyn HostApi>,
    granted: Granted,
    max_artifact_size: ByteSize,
    wasm: &WasmSetup,
) -> Result<NewRunner, RunnerError> {
    Ok(match manifest.runtime {
        RuntimeKind::Wasm => {
            let engine = wasm.engine.clone().ok_or_else(|| {
                RunnerError::new(
                    &manifest.name,
                    RunnerErrorKind::Other("no wasm engine could be made (see the log)".into()),
                )
            })?;
            let mut runner = WasmRunner::new(engine, host)
                .with_granted(granted)
                .with_max_artifact_size(max_artifact_size);
            if let Some(cache) = &wasm.cache {
                runner = runner.with_cache(cache.clone());
            }
            NewRunner {
                runner: Arc::new(runner),
                exits: None,
            }
        }
        RuntimeKind::Grpc => {
            let runner = GrpcRunner::new(host)
                .with_granted(granted)
                .with_max_artifact_size(max_artifact_size);
            let exits = runner.exit_watch();
            NewRunner {
                runner: Arc::new(runner),
                exits: Some(exits),
            }
        }
    })
}
