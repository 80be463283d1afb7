//! Creating the runner a manifest's `runtime` names.

use std::sync::Arc;

use plugin_core::{Granted, HostApi, Manifest, Runner, RuntimeKind};
use plugin_grpc::{GrpcRunner, PluginExit};
use plugin_wasm::{ModuleCache, WasmRunner};
use tokio::sync::watch;

/// A runner, not yet loaded, and how to hear that its process died.
pub(crate) struct NewRunner {
    pub(crate) runner: Arc<dyn Runner>,
    /// For runners with a process (gRPC): `Some(exit)` once it exited.
    pub(crate) exits: Option<watch::Receiver<Option<PluginExit>>>,
}

/// The runner for `manifest`'s runtime, serving its callbacks with `host`,
/// holding the plugin to what the host `granted`.
pub(crate) fn new_runner(
    manifest: &Manifest,
    host: Arc<dyn HostApi>,
    granted: Granted,
    cache: Option<&ModuleCache>,
) -> NewRunner {
    match manifest.runtime {
        RuntimeKind::Wasm => {
            let mut runner = WasmRunner::new(host).with_granted(granted);
            if let Some(cache) = cache {
                runner = runner.with_cache(cache.clone());
            }
            NewRunner {
                runner: Arc::new(runner),
                exits: None,
            }
        }
        RuntimeKind::Grpc => {
            let runner = GrpcRunner::new(host).with_granted(granted);
            let exits = runner.exit_watch();
            NewRunner {
                runner: Arc::new(runner),
                exits: Some(exits),
            }
        }
    }
}
