//! [`WasmEngine`]: the wasmtime engine plugins are compiled for and run on,
//! with its instance allocator, its call shim and its epoch ticker.
//!
//! By default every runner shares one process-wide engine with wasmtime's
//! on-demand allocator, which maps each instance's memory anew and has no
//! capacity to configure. [`WasmEngine::pooling`] makes an engine whose
//! core-module instances come from wasmtime's pooling allocator instead:
//! creating an instance takes a slot reserved up front (see
//! [`PoolingLimits`]), which is several times faster and puts a host-wide
//! bound on wasm instances. Components run on the on-demand engine either
//! way: how many core instances, memories and tables a component uses
//! varies with its toolchain, so it cannot reserve its slots at load.

mod epoch;
mod pooling;

use std::sync::{Arc, OnceLock};

use wasmtime::{Config, Engine, Module, OptLevel};

pub use epoch::EPOCH_TICK;
pub(crate) use epoch::ticks;
pub use pooling::{MAX_TABLE_ELEMENTS, PoolingLimits, PoolingRefusal};
pub(crate) use pooling::{Reservation, Slots};

use crate::call_shim;

/// An engine could not be created (address space for the pool's slots,
/// the epoch thread).
#[derive(Debug, Clone, thiserror::Error)]
#[error("wasm engine: {0}")]
pub struct EngineError(String);

/// The engine a [`WasmRunner`](crate::WasmRunner) compiles and
/// instantiates its plugin on. Clones share it; modules compiled for one
/// engine run only on that one.
#[derive(Clone)]
pub struct WasmEngine {
    inner: Arc<Inner>,
}

struct Inner {
    /// What core modules are compiled for and instantiated on.
    modules: Engine,
    /// The call shim, compiled for `modules`.
    shim: Module,
    /// What components run on: always the shared on-demand engine.
    components: Engine,
    /// The pooling allocator's slots, when `modules` pools.
    slots: Option<Arc<Slots>>,
}

/// The most a wasm32 linear memory can hold.
const WASM32_MEMORY: u64 = 4 << 30;

static SHARED: OnceLock<Result<WasmEngine, EngineError>> = OnceLock::new();

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("pooling", &self.pooling_limits())
            .finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// The process-wide engine, with the on-demand allocator, created on
    /// first use. Runners use it unless given another.
    ///
    /// Invariant (of every engine): each store created from it has an epoch
    /// deadline callback, so no guest runs more than one tick without
    /// returning control to the host.
    pub fn shared() -> Result<Self, EngineError> {
        SHARED
            .get_or_init(|| {
                let engine = build(&base_config())?;
                Self::with_modules(engine.clone(), engine, None)
            })
            .clone()
    }

    /// An engine whose core-module instances come from wasmtime's pooling
    /// allocator with `limits`: each plugin loaded on it reserves its
    /// `pool.max_instances` slots, or is refused. Components still run on
    /// the shared on-demand engine.
    ///
    /// Limits the pool cannot hold are an error naming the host setting:
    /// no instances, a memory larger than wasm32's 4 GiB, or more slots
    /// than the address space has room for.
    pub fn pooling(limits: PoolingLimits) -> Result<Self, EngineError> {
        let setting = |e: String| {
            EngineError(format!(
                "plugins.wasm.pooling (instances {}, max_memory {} bytes): {e}",
                limits.instances, limits.max_memory
            ))
        };
        if limits.instances == 0 {
            return Err(setting("instances must be at least 1".into()));
        }
        if limits.max_memory > WASM32_MEMORY {
            return Err(setting(format!(
                "max_memory is larger than a wasm32 memory can be ({WASM32_MEMORY} bytes)"
            )));
        }
        let mut config = base_config();
        config.allocation_strategy(limits.strategy());
        let modules = build(&config).map_err(|EngineError(e)| setting(e))?;
        let components = Self::shared()?.inner.components.clone();
        Self::with_modules(modules, components, Some(Slots::new(limits)))
            .map_err(|EngineError(e)| setting(e))
    }

    fn with_modules(
        modules: Engine,
        components: Engine,
        slots: Option<Arc<Slots>>,
    ) -> Result<Self, EngineError> {
        let shim = call_shim::compile(&modules).map_err(EngineError)?;
        Ok(Self {
            inner: Arc::new(Inner {
                modules,
                shim,
                components,
                slots,
            }),
        })
    }

    /// The pooling allocator's limits, when this engine pools.
    pub fn pooling_limits(&self) -> Option<&PoolingLimits> {
        self.inner.slots.as_deref().map(Slots::limits)
    }

    /// Instance slots of the pool no loaded plugin has reserved (`None`
    /// without pooling).
    pub fn free_slots(&self) -> Option<u32> {
        self.inner.slots.as_deref().map(Slots::free)
    }

    /// The engine core modules are compiled for.
    pub(crate) fn modules(&self) -> &Engine {
        &self.inner.modules
    }

    /// The engine components are compiled for.
    pub(crate) fn components(&self) -> &Engine {
        &self.inner.components
    }

    /// The call shim, compiled for [`modules`](Self::modules).
    pub(crate) fn shim(&self) -> &Module {
        &self.inner.shim
    }

    /// Reserves slots for a core-module plugin of `instances` instances of
    /// at most `memory` bytes; `None` when the engine does not pool.
    pub(crate) fn reserve(
        &self,
        instances: u32,
        memory: u64,
    ) -> Result<Option<Reservation>, PoolingRefusal> {
        self.inner
            .slots
            .as_ref()
            .map(|slots| slots.reserve(instances, memory))
            .transpose()
    }

    /// A compilation error that is wasmtime refusing a module too large
    /// for this engine's pooling slots (it checks every module it compiles
    /// or deserializes), as a refusal naming the setting.
    pub(crate) fn pooling_refusal(&self, error: &wasmtime::Error) -> Option<PoolingRefusal> {
        self.inner.slots.as_ref()?.refusal(error)
    }
}

/// What every engine is configured with.
fn base_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    config
}

fn build(config: &Config) -> Result<Engine, EngineError> {
    let engine = Engine::new(config).map_err(|e| EngineError(format!("{e:#}")))?;
    epoch::register(&engine).map_err(EngineError)?;
    Ok(engine)
}
