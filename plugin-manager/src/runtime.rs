//! Creating the runner a manifest's `runtime` names.

use std::sync::Arc;

use plugin_core::{ByteSize, Granted, HostApi, Manifest, Runner, RuntimeKind};
use plugin_grpc::{GrpcRunner, PluginExit};
use plugin_types::WasmSettings;
use plugin_wasm::{ModuleCache, PoolingLimits, WasmEngine, WasmRunner};
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
    /// The engine, when not the process-wide on-demand one.
    pub(crate) engine: Option<WasmEngine>,
}

impl WasmSetup {
    /// The engine `plugins.wasm` asks for: a pooling one when
    /// `pooling` is set. One that cannot be made (the address space for
    /// its slots) is logged, and plugins run on the on-demand engine.
    pub(crate) fn engine_for(settings: &WasmSettings) -> Option<WasmEngine> {
        let pooling = settings.pooling?;
        let limits = PoolingLimits {
            instances: pooling.instances,
            max_memory: pooling.max_memory.bytes(),
        };
        WasmEngine::pooling(limits)
            .inspect_err(|e| {
                tracing::error!("{e}; wasm plugins run on the on-demand allocator");
            })
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
) -> NewRunner {
    match manifest.runtime {
        RuntimeKind::Wasm => {
            let mut runner = WasmRunner::new(host)
                .with_granted(granted)
                .with_max_artifact_size(max_artifact_size);
            if let Some(cache) = &wasm.cache {
                runner = runner.with_cache(cache.clone());
            }
            if let Some(engine) = &wasm.engine {
                runner = runner.with_engine(engine.clone());
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
    }
}
