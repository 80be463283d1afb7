//! [`Runtimes`]: the execution environments a manager runs plugins on,
//! by the name manifests give in `runtime:`.

use std::collections::BTreeMap;
use std::sync::Arc;

use plugin_core::{Manifest, Runtime};
use plugin_grpc::GrpcRuntime;
use plugin_types::WasmSettings;
use plugin_wasm::{ModuleCache, WasmEngine, WasmRuntime};

use crate::error::ManagerError;

/// The runtimes registered with a manager, by name.
#[derive(Clone, Default)]
pub(crate) struct Runtimes {
    by_name: BTreeMap<String, Arc<dyn Runtime>>,
}

impl Runtimes {
    /// Registers `runtime` under `name`, replacing any before it.
    pub(crate) fn register(&mut self, name: String, runtime: Arc<dyn Runtime>) {
        self.by_name.insert(name, runtime);
    }

    /// Whether a runtime is registered under `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The runtime `manifest` names, once it checked the manifest; an
    /// unregistered one is an error listing those registered.
    pub(crate) fn for_manifest(&self, manifest: &Manifest) -> Result<&dyn Runtime, ManagerError> {
        let runtime =
            self.by_name
                .get(&manifest.runtime)
                .ok_or_else(|| ManagerError::UnknownRuntime {
                    plugin: manifest.name.clone(),
                    runtime: manifest.runtime.clone(),
                    registered: self.by_name.keys().cloned().collect(),
                })?;
        runtime.check(manifest)?;
        Ok(&**runtime)
    }
}

/// The `wasm` runtime a manager registers unless the embedder registered
/// its own: on the engine `plugins.wasm` asks for (a pooling one when
/// `pooling` is set; one that cannot be made, for the address space of its
/// slots, is logged and plugins run on the on-demand engine), with the
/// compile cache if any.
pub(crate) fn default_wasm(
    settings: &WasmSettings,
    cache: Option<ModuleCache>,
) -> Option<WasmRuntime> {
    let pooled = settings.pooling.and_then(|pooling| {
        WasmEngine::pooling(&pooling)
            .inspect_err(|e| tracing::error!("{e}; wasm plugins run on the on-demand allocator"))
            .ok()
    });
    let engine = match pooled {
        Some(engine) => engine,
        None => WasmEngine::new()
            .inspect_err(|e| tracing::error!("{e}; wasm plugins cannot run"))
            .ok()?,
    };
    let runtime = WasmRuntime::new(engine);
    Some(match cache {
        Some(cache) => runtime.with_cache(cache),
        None => runtime,
    })
}

/// The `grpc` runtime a manager registers unless the embedder registered
/// its own.
pub(crate) fn default_grpc() -> GrpcRuntime {
    GrpcRuntime::new()
}
