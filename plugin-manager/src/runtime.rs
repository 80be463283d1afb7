//! Creating the runner a manifest's `runtime` names.

use std::sync::Arc;

use plugin_core::{HostApi, Manifest, Runner, RuntimeKind};
use plugin_grpc::{GrpcRunner, PluginExit};
use plugin_wasm::WasmRunner;
use tokio::sync::watch;

use crate::options::ManagerOptions;

/// A runner, not yet loaded, and how to hear that its process died.
pub(crate) struct NewRunner {
    pub(crate) runner: Arc<dyn Runner>,
    /// For runners with a process (gRPC): `Some(exit)` once it exited.
    pub(crate) exits: Option<watch::Receiver<Option<PluginExit>>>,
}

/// The runner for `manifest`'s runtime, serving its callbacks with `host`.
pub(crate) fn new_runner(
    manifest: &Manifest,
    host: Arc<dyn HostApi>,
    options: &ManagerOptions,
) -> NewRunner {
    match manifest.runtime {
        RuntimeKind::Wasm => {
            let mut runner = WasmRunner::new(host);
            if let Some(dir) = &options.wasm_cache_dir {
                runner = runner.with_cache_dir(dir.clone());
            }
            NewRunner {
                runner: Arc::new(runner),
                exits: None,
            }
        }
        RuntimeKind::Grpc => {
            let runner = GrpcRunner::new(host);
            let exits = runner.exit_watch();
            NewRunner {
                runner: Arc::new(runner),
                exits: Some(exits),
            }
        }
    }
}
