//! [`WasmEngine`]: the wasmtime engine plugins are compiled for and run on,
//! with its instance allocator, its call shim and its epoch ticker.
//!
//! The embedder makes the engine and hands it to each
//! [`WasmRunner`](crate::WasmRunner); there is no process-wide one.
//! [`WasmEngine::new`] uses wasmtime's on-demand allocator, which maps each
//! instance's memory anew and has no capacity to configure;
//! [`WasmEngine::from_config`] takes the embedder's own `wasmtime::Config`.
//! [`WasmEngine::pooling`] makes an engine whose core-module instances come
//! from wasmtime's pooling allocator instead: creating an instance takes a
//! slot reserved up front (see [`WasmPooling`]), which is several times
//! faster and puts a host-wide bound on wasm instances. Components run on
//! an on-demand engine of the same configuration either way: how many core
//! instances, memories and tables a component uses varies with its
//! toolchain, so it cannot reserve its slots at load.
//!
//! Each engine owns its epoch ticker thread (`wasm-epoch`), which stops
//! once the last handle to the engine and the last store running on it
//! are dropped.

mod epoch;
mod pooling;

use std::sync::Arc;

use plugin_types::WasmPooling;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Module, OptLevel};

pub(crate) use epoch::Clock;
pub use epoch::EPOCH_TICK;
pub use pooling::{MAX_TABLE_ELEMENTS, PoolingRefusal};
pub(crate) use pooling::{Reservation, Slots};

use crate::call_shim;

/// An engine could not be created: a `wasmtime::Config` the runner cannot
/// work with (naming what is missing), pooling settings the pool cannot
/// hold, or the system's refusal (address space for the pool's slots, the
/// epoch thread).
#[derive(Debug, Clone, thiserror::Error)]
#[error("wasm engine: {0}")]
pub struct EngineError(String);

/// The engine a [`WasmRunner`](crate::WasmRunner) compiles and
/// instantiates its plugin on. Clones share it (and its ticker); modules
/// compiled for one engine run only on that one.
#[derive(Clone)]
pub struct WasmEngine {
    inner: Arc<Inner>,
}

struct Inner {
    /// What core modules are compiled for and instantiated on.
    modules: Engine,
    /// The call shim, compiled for `modules`.
    shim: Module,
    /// What components run on: `modules` itself when it allocates on
    /// demand, else an on-demand engine of the same configuration.
    components: Engine,
    /// The pooling allocator's slots, when `modules` pools.
    slots: Option<Arc<Slots>>,
    /// The epoch ticks of both engines; its ticker stops once the last
    /// clone of it (this one, and each store's) is dropped.
    clock: Clock,
}

/// The most a wasm32 linear memory can hold.
const WASM32_MEMORY: u64 = 4 << 30;

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("pooling", &self.pooling_limits())
            .finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// An engine with wasmtime's on-demand allocator and the runner's
    /// default configuration (epoch interruption on, Cranelift optimising
    /// for speed).
    ///
    /// Invariant (of every engine): each store created from it has an epoch
    /// deadline callback, so no guest runs more than one tick without
    /// returning control to the host.
    pub fn new() -> Result<Self, EngineError> {
        Self::from_config(base_config())
    }

    /// An engine made from the embedder's own `config` (its compiler
    /// settings, wasm features, memory reservations, debug info...).
    ///
    /// The config is checked by building the engine and reading back what
    /// it holds, and refused, naming what is missing, when the runner
    /// cannot work with it:
    /// - epoch interruption must be on (`config.epoch_interruption(true)`):
    ///   it is how every call is held to its `execution.timeout` and how a
    ///   stopped plugin is interrupted;
    /// - fuel must be off: the runner gives its stores no fuel, so every
    ///   call would trap;
    /// - the allocator must be on-demand: a pooling allocator's slots are
    ///   shared out among plugins by [`pooling_from_config`](Self::pooling_from_config),
    ///   which needs to know their number.
    ///
    /// Async needs nothing: every wasmtime 48 engine runs async calls
    /// (`Config::async_support` is deprecated and has no effect).
    /// Components run on this same engine.
    pub fn from_config(config: Config) -> Result<Self, EngineError> {
        let engine = build(&config)?;
        if engine.get_pooling_config().is_some() {
            return Err(EngineError(
                "the wasmtime::Config uses the pooling allocator, whose slots the runner shares \
                 out among plugins only when it knows how many there are: use \
                 WasmEngine::pooling_from_config(config, &WasmPooling) instead"
                    .into(),
            ));
        }
        Self::assemble(engine.clone(), engine, None)
    }

    /// An engine whose core-module instances come from wasmtime's pooling
    /// allocator sized by `pooling` (the host's `plugins.wasm.pooling`),
    /// with the runner's default configuration otherwise: each plugin
    /// loaded on it reserves its `pool.max_instances` slots, or is refused.
    /// Components run on an on-demand engine the new engine owns.
    ///
    /// Settings the pool cannot hold are an error naming the host setting:
    /// no instances, a memory larger than wasm32's 4 GiB, or more slots
    /// than the address space has room for.
    pub fn pooling(pooling: &WasmPooling) -> Result<Self, EngineError> {
        Self::pooling_from_config(base_config(), pooling)
    }

    /// [`pooling`](Self::pooling) on the embedder's own `config`, checked
    /// as [`from_config`](Self::from_config) checks it. Its allocation
    /// strategy is replaced (forced): core modules get the pool `pooling`
    /// sizes, components the on-demand allocator.
    pub fn pooling_from_config(
        mut config: Config,
        pooling: &WasmPooling,
    ) -> Result<Self, EngineError> {
        let setting = |e: String| {
            EngineError(format!(
                "plugins.wasm.pooling (instances {}, max_memory {}): {e}",
                pooling.instances, pooling.max_memory
            ))
        };
        if pooling.instances == 0 {
            return Err(setting("instances must be at least 1".into()));
        }
        if pooling.max_memory.bytes() > WASM32_MEMORY {
            return Err(setting(format!(
                "max_memory is larger than a wasm32 memory can be ({WASM32_MEMORY} bytes)"
            )));
        }
        config.allocation_strategy(pooling::strategy(pooling));
        let modules = build(&config).map_err(|EngineError(e)| setting(e))?;
        config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
        let components = build(&config)?;
        Self::assemble(modules, components, Some(Slots::new(*pooling)))
            .map_err(|EngineError(e)| setting(e))
    }

    /// The engine of `modules` and `components`, with its shim and ticker.
    fn assemble(
        modules: Engine,
        components: Engine,
        slots: Option<Arc<Slots>>,
    ) -> Result<Self, EngineError> {
        let shim = call_shim::compile(&modules).map_err(EngineError)?;
        let clock = if Engine::same(&modules, &components) {
            epoch::start(&[&modules])
        } else {
            epoch::start(&[&modules, &components])
        }
        .map_err(EngineError)?;
        Ok(Self {
            inner: Arc::new(Inner {
                modules,
                shim,
                components,
                slots,
                clock,
            }),
        })
    }

    /// The pooling allocator's settings, when this engine pools.
    pub fn pooling_limits(&self) -> Option<&WasmPooling> {
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

    /// The epoch ticks deadlines of stores on this engine are kept in.
    pub(crate) fn clock(&self) -> &Clock {
        &self.inner.clock
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

/// What [`WasmEngine::new`] and [`WasmEngine::pooling`] configure.
fn base_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    config
}

/// The engine `config` makes, if the runner can work with it (see
/// [`WasmEngine::from_config`]).
fn build(config: &Config) -> Result<Engine, EngineError> {
    let engine = Engine::new(config).map_err(|e| EngineError(format!("{e:#}")))?;
    if !engine.get_epoch_interruption() {
        return Err(EngineError(
            "the wasmtime::Config has epoch interruption off, which the runner needs to hold \
             each call to its execution.timeout and to interrupt a stopped plugin: call \
             config.epoch_interruption(true)"
                .into(),
        ));
    }
    if engine.get_consume_fuel() {
        return Err(EngineError(
            "the wasmtime::Config consumes fuel, which the runner does not give its stores \
             (every call would trap out of fuel): call config.consume_fuel(false)"
                .into(),
        ));
    }
    Ok(engine)
}
