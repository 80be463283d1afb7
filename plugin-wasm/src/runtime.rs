//! [`WasmRuntime`]: wasm plugins as a [`Runtime`] a host registers.

use std::sync::Arc;

use plugin_core::{Manifest, Runner, RunnerError, RunnerSetup, Runtime};

use crate::cache::ModuleCache;
use crate::engine::WasmEngine;
use crate::runner::WasmRunner;

/// The `wasm` runtime: each plugin version gets a [`WasmRunner`] on this
/// runtime's engine, sharing its compile cache. Clones share both.
///
/// ```no_run
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use plugin_wasm::{WasmEngine, WasmRuntime};
/// let runtime = WasmRuntime::new(WasmEngine::new()?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WasmRuntime {
    engine: WasmEngine,
    cache: Option<ModuleCache>,
}

impl WasmRuntime {
    /// Runs plugins on `engine`, compiling every load anew.
    pub fn new(engine: WasmEngine) -> Self {
        Self {
            engine,
            cache: None,
        }
    }

    /// Caches compiled modules in `cache` (see [`ModuleCache`]).
    pub fn with_cache(mut self, cache: ModuleCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The engine plugins run on.
    pub fn engine(&self) -> &WasmEngine {
        &self.engine
    }
}

impl Runtime for WasmRuntime {
    fn runner(
        &self,
        _manifest: &Manifest,
        setup: RunnerSetup,
    ) -> Result<Arc<dyn Runner>, RunnerError> {
        let mut runner = WasmRunner::new(self.engine.clone(), setup.host)
            .with_granted(setup.granted)
            .with_max_artifact_size(setup.max_artifact_size);
        if let Some(cache) = &self.cache {
            runner = runner.with_cache(cache.clone());
        }
        Ok(Arc::new(runner))
    }
}
