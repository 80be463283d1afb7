//! [`Runtimes`]: the execution environments a manager runs plugins on,
//! by the name manifests give in `runtime:`.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::path::PathBuf;

use plugin_core::{Manifest, Runtime};
use plugin_types::PluginConfig;
#[cfg(feature = "wasm")]
use plugin_types::WasmSettings;
#[cfg(feature = "wasm")]
use plugin_wasm::{ModuleCache, WasmEngine, WasmRuntime};

use crate::error::ManagerError;
use crate::options::ManagerOptions;

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

/// Makes a runtime registered by default, if it can be made.
type MakeDefault<'a> = Box<dyn FnOnce() -> Option<Arc<dyn Runtime>> + 'a>;

impl Runtimes {
    /// These runtimes, plus the default `wasm` and `grpc` ones (with the
    /// features of those names) where the embedder registered none.
    pub(crate) fn with_defaults(mut self, config: &PluginConfig, options: &ManagerOptions) -> Self {
        let defaults: Vec<(&str, MakeDefault<'_>)> = vec![
            #[cfg(feature = "wasm")]
            (
                plugin_core::WASM_RUNTIME,
                Box::new(|| Some(Arc::new(default_wasm(&config.wasm, options)?) as _)),
            ),
            #[cfg(feature = "grpc")]
            (
                plugin_core::GRPC_RUNTIME,
                Box::new(|| Some(Arc::new(plugin_grpc::GrpcRuntime::new()) as _)),
            ),
        ];
        let _ = (config, options);
        for (name, make) in defaults {
            if !self.by_name.contains_key(name)
                && let Some(runtime) = make()
            {
                self.by_name.insert(name.to_owned(), runtime);
            }
        }
        self
    }
}

/// What of the host's own the default runtimes keep and no plugin may be
/// granted: the wasm compile cache and its key.
#[cfg(feature = "wasm")]
pub(crate) fn private_paths(options: &ManagerOptions) -> Vec<PathBuf> {
    match &options.wasm_cache_dir {
        Some(dir) => vec![dir.clone(), plugin_wasm::ModuleCache::key_path(dir)],
        None => Vec::new(),
    }
}

/// What of the host's own the default runtimes keep: nothing without the
/// `wasm` feature.
#[cfg(not(feature = "wasm"))]
pub(crate) fn private_paths(_options: &ManagerOptions) -> Vec<PathBuf> {
    Vec::new()
}

/// The `wasm` runtime a manager registers unless the embedder registered
/// its own: on the engine `plugins.wasm` asks for (a pooling one when
/// `pooling` is set; one that cannot be made, for the address space of its
/// slots, is logged and plugins run on the on-demand engine), with the
/// compile cache of `wasm_cache_dir` if any.
#[cfg(feature = "wasm")]
fn default_wasm(settings: &WasmSettings, options: &ManagerOptions) -> Option<WasmRuntime> {
    let cache = options.wasm_cache_dir.as_ref().and_then(|dir| {
        ModuleCache::open(dir)
            .inspect_err(|e| {
                tracing::warn!(dir = %dir.display(), "wasm modules will not be cached: {e}");
            })
            .ok()
    });
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
