//! [`WasmRunner`]: the [`Runner`] for wasm plugins.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use plugin_core::manifest::limits::DEFAULT_MAX_ARTIFACT_SIZE;
use plugin_core::{
    AddressRules, Artifact, ByteSize, Granted, HealthStatus, HostApi, HostGrants, HttpAllowlist,
    HttpRequestRule, Identified, Lifecycle, LifecycleEvents, Manifest, Phase, PluginInfo, Reporter,
    Runner, RunnerError, RunnerErrorKind, artifact,
};
use serde_json::Value;
use serde_json::value::RawValue;
use wasmtime::component::Component;
use wasmtime::{Linker, Module};

use crate::cache::ModuleCache;
use crate::call_shim::Shim;
use crate::component::{self, ComponentTemplate};
use crate::core_state::InstanceState;
use crate::engine::{PoolingRefusal, Reservation, WasmEngine};
use crate::host_functions;
use crate::instance::{Code, CoreTemplate, GuestExports, PluginInstance, Template};
use crate::pool::{AcquireError, Instances, Lease};
use crate::sandbox::{Failure, Sandbox, SocketRules};
use crate::state::PluginContext;

/// Runs one wasm plugin in-process on wasmtime, sandboxed by its manifest.
///
/// `load` compiles the module (read from its file, or the bytes the
/// manifest carries) on the [`WasmEngine`] given to [`WasmRunner::new`]
/// and links it (WASI preview 1 plus the `flowbot` host functions, backed
/// by the [`HostApi`] given there too). `start` creates the first
/// instance and runs its `init`; calls then run on a bounded pool of
/// instances, each initialised with the same configuration. See the crate
/// docs for the limits that hold.
pub struct WasmRunner {
    host: Arc<dyn HostApi>,
    engine: WasmEngine,
    cache: Option<ModuleCache>,
    granted: Option<Granted>,
    max_artifact_size: ByteSize,
    reporter: Reporter,
    loaded: RwLock<Option<Arc<Loaded>>>,
}

struct Loaded {
    template: Template,
    /// The pooling allocator's slots this plugin's pool may use, given
    /// back when the runner is dropped.
    _slots: Option<Reservation>,
    pool: Instances,
    config: RwLock<Arc<str>>,
    lifecycle: Lifecycle,
}

impl WasmRunner {
    /// A runner that compiles and runs its plugin on `engine` (which
    /// runners may share: a [pooling](WasmEngine::pooling) one shares its
    /// slots among them), the plugin reaching its host through `host`.
    pub fn new(engine: WasmEngine, host: Arc<dyn HostApi>) -> Self {
        Self {
            host,
            engine,
            cache: None,
            granted: None,
            max_artifact_size: DEFAULT_MAX_ARTIFACT_SIZE,
            reporter: Reporter::new(),
            loaded: RwLock::new(None),
        }
    }

    /// Reads a module of at most `limit` bytes (the host policy's
    /// `max_artifact_size`; [`DEFAULT_MAX_ARTIFACT_SIZE`] unless set).
    /// Whatever the manifest names, `load` reads a regular file within
    /// it, or refuses (see [`plugin_core::artifact`]); a module given as
    /// bytes is held to the same limit.
    pub fn with_max_artifact_size(mut self, limit: ByteSize) -> Self {
        self.max_artifact_size = limit;
        self
    }

    /// Caches compiled modules in `cache`, so loading an unchanged module
    /// again skips compilation. Entries are authenticated before use and
    /// rebuilt when forged, corrupt or stale.
    pub fn with_cache(mut self, cache: ModuleCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Runs the plugin with what the host granted it (see
    /// [`plugin_core::grant`]): the folders it sees and the hosts its HTTP
    /// requests may name. Without this, `load` grants what a host with the
    /// default policy and no data folder would.
    pub fn with_granted(mut self, granted: Granted) -> Self {
        self.granted = Some(granted);
        self
    }

    /// Creates up to `instances` more idle instances of the started plugin
    /// now, within its `pool.max_instances`, so that the calls that find
    /// no idle instance later do not pay for creating one. Returns how many
    /// it created.
    pub async fn warm(&self, instances: u32) -> Result<u32, RunnerError> {
        let loaded = self.loaded()?;
        loaded.lifecycle.check_callable("warm")?;
        let mut created = 0;
        while created < instances {
            let Some(lease) = loaded.pool.try_grow() else {
                break;
            };
            loaded
                .on_instance(lease, async |_| Ok(()))
                .await
                .map_err(|kind| loaded.lifecycle.fail(None, kind))?;
            created += 1;
        }
        Ok(created)
    }

    /// The loaded plugin; one lock, no allocation on success.
    fn loaded(&self) -> Result<Arc<Loaded>, RunnerError> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| RunnerError::new("<not loaded>", RunnerErrorKind::NotLoaded))
    }
}

/// Why `load` failed, inside its blocking task.
enum Refused {
    /// The pooling allocator has no room for the plugin.
    Pooling(PoolingRefusal),
    /// The module is not a regular file within the size limit.
    Artifact(plugin_core::ArtifactError),
    /// Compiling or linking the module.
    Other(String),
}

fn other(plugin: &str, message: String) -> RunnerError {
    RunnerError::new(plugin, RunnerErrorKind::Other(message.into()))
}

#[async_trait]
impl Runner for WasmRunner {
    async fn load(&self, manifest: &Manifest) -> Result<PluginInfo, RunnerError> {
        let name = manifest.name.as_str();
        let wasm = manifest
            .wasm
            .as_ref()
            .ok_or_else(|| other(name, "the manifest has no wasm section".into()))?;
        if self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Err(other(
                name,
                "this runner already has a plugin loaded".into(),
            ));
        }
        // The manifest asks, the host grants: without grants from the
        // host, those of a host with the default policy and no data folder.
        let granted = match &self.granted {
            Some(granted) => granted.clone(),
            None => HostGrants::default().grant(manifest).map_err(|e| {
                RunnerError::new(name, RunnerErrorKind::PermissionDenied(Box::new(e)))
            })?,
        };
        let engine = self.engine.clone();
        let path = wasm.module.clone();
        let given = wasm.module_bytes.clone();
        let (plugin, limit) = (name.to_owned(), self.max_artifact_size);
        let cache = self.cache.clone();
        let (instances, memory) = (wasm.pool.max_instances, wasm.permissions.memory.max.bytes());
        let (code, slots) = tokio::task::spawn_blocking(move || {
            let read;
            let bytes: &[u8] = match &given {
                Some(given) => {
                    let size = u64::try_from(given.as_bytes().len()).unwrap_or(u64::MAX);
                    artifact::check_given(&plugin, "wasm.module", &path, size, limit)
                        .map_err(Refused::Artifact)?;
                    given.as_bytes()
                }
                None => {
                    read = Artifact::open(&plugin, "wasm.module", &path, limit)
                        .and_then(Artifact::read_all)
                        .map_err(Refused::Artifact)?;
                    &read
                }
            };
            if component::is_component(bytes) {
                let engine = engine.components();
                let compiled = match &cache {
                    Some(cache) => cache.load_or_compile::<Component>(engine, bytes),
                    None => Component::new(engine, bytes),
                }
                .map_err(|e| {
                    Refused::Other(format!("invalid component {}: {e:#}", path.display()))
                })?;
                let template = ComponentTemplate::new(engine, &compiled)
                    .map_err(|e| Refused::Other(format!("component {}: {e}", path.display())))?;
                return Ok((Code::Component(template), None));
            }
            // The slots first: a plugin that cannot have them is refused
            // before it costs a compilation.
            let slots = engine
                .reserve(instances, memory)
                .map_err(Refused::Pooling)?;
            let modules = engine.modules();
            let module = match &cache {
                Some(cache) => cache.load_or_compile(modules, bytes),
                None => Module::new(modules, bytes),
            }
            .map_err(|e| match engine.pooling_refusal(&e) {
                Some(refusal) => Refused::Pooling(refusal),
                None => Refused::Other(format!("invalid module {}: {e:#}", path.display())),
            })?;
            let mut linker: Linker<InstanceState> = Linker::new(modules);
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut InstanceState| {
                &mut state.wasi
            })
            .and_then(|()| host_functions::add_to_linker(&mut linker))
            .map_err(|e| Refused::Other(format!("linking host functions: {e:#}")))?;
            let pre = linker
                .instantiate_pre(&module)
                .map_err(|e| Refused::Other(format!("module {}: {e:#}", path.display())))?;
            let exports = GuestExports::of(&module);
            let shim = Shim::new(modules, engine.shim()).map_err(Refused::Other)?;
            let core = CoreTemplate { pre, exports, shim };
            Ok::<_, Refused>((Code::Module(Box::new(core)), slots))
        })
        .await
        .map_err(|e| other(name, format!("compiling module: {e}")))?
        .map_err(|refused| match refused {
            Refused::Pooling(refusal) => {
                RunnerError::new(name, RunnerErrorKind::LimitExceeded(refusal.to_string()))
            }
            // It names the plugin itself.
            Refused::Artifact(e) => RunnerError::new(name, RunnerErrorKind::Other(Box::new(e))),
            Refused::Other(message) => other(name, message),
        })?;

        let loaded = Loaded {
            template: Template {
                sandbox: Sandbox {
                    plugin: Arc::new(PluginContext::new(
                        name,
                        // Every host call of every instance goes through
                        // it: the identity fields and bounds it sets.
                        Identified::wrap(name, self.host.clone()),
                        HttpRequestRule::new(name, HttpAllowlist::new(&granted.http)),
                    )),
                    clock: self.engine.clock().clone(),
                    memory_max: wasm.permissions.memory.max.bytes(),
                    timeout: wasm.permissions.execution.timeout,
                    filesystem: granted.filesystem,
                    sockets: (!granted.connect.is_empty()).then(|| {
                        Arc::new(SocketRules {
                            ports: granted.connect,
                            addresses: AddressRules::new(name, granted.private_networks),
                        })
                    }),
                },
                code,
            },
            _slots: slots,
            pool: Instances::new(wasm.pool.max_instances, wasm.pool.wait_timeout),
            config: RwLock::new(Arc::from("null")),
            lifecycle: Lifecycle::new(name, self.reporter.clone()),
        };
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(loaded));
        Ok(PluginInfo::from(manifest))
    }

    async fn start(&self, config: &Value) -> Result<(), RunnerError> {
        let loaded = self.loaded()?;
        let name = loaded.template.sandbox.plugin.name.clone();
        if loaded.lifecycle.phase() != Phase::Loaded {
            return Err(other(&name, "already started".into()));
        }
        let config: Arc<str> = Arc::from(config.to_string());
        *loaded.config.write().unwrap_or_else(|p| p.into_inner()) = config.clone();
        let instance = PluginInstance::create(&loaded.template, &config)
            .await
            .map_err(|failure| loaded.lifecycle.fail(None, failure.kind))?;
        loaded.pool.add_idle(Box::new(instance));
        loaded.lifecycle.mark_started();
        Ok(())
    }

    async fn stop(&self, drain: Duration) -> Result<(), RunnerError> {
        let loaded = self.loaded()?;
        loaded.lifecycle.mark_stopping();
        if !loaded.pool.close(drain).await {
            // Calls still running past the drain deadline are interrupted at
            // the next epoch tick and fail as "stopped".
            loaded.template.sandbox.plugin.cancel();
        }
        Ok(())
    }

    async fn call(&self, function: &str, params: &RawValue) -> Result<Box<RawValue>, RunnerError> {
        let loaded = self.loaded()?;
        let fail = |kind| loaded.lifecycle.fail(Some(function), kind);
        loaded.lifecycle.check_callable(function)?;
        let lease = match loaded.pool.acquire().await {
            Ok(lease) => lease,
            Err(AcquireError::Exhausted(waited)) => {
                return Err(fail(RunnerErrorKind::PoolExhausted(waited)));
            }
            Err(AcquireError::Closed) => return Err(fail(RunnerErrorKind::Stopped)),
        };
        let params = params.get();
        loaded
            .on_instance(lease, async |instance| {
                instance.call(function, params).await
            })
            .await
            .map_err(fail)
    }

    async fn health(&self) -> Result<HealthStatus, RunnerError> {
        let loaded = self.loaded()?;
        if loaded.lifecycle.phase() != Phase::Started {
            return Ok(loaded.lifecycle.health(false));
        }
        let ready = match loaded.pool.acquire().await {
            Ok(lease) => loaded
                .on_instance(lease, async |instance| instance.is_ready().await)
                .await
                .unwrap_or_else(|kind| {
                    loaded.lifecycle.fail(Some("is_ready"), kind);
                    false
                }),
            // Every instance is busy serving calls: the plugin is alive.
            Err(AcquireError::Exhausted(_)) => true,
            Err(AcquireError::Closed) => false,
        };
        Ok(loaded.lifecycle.health(ready))
    }

    fn events(&self) -> LifecycleEvents {
        self.reporter.subscribe()
    }
}

impl Loaded {
    /// Runs `op` on the lease's instance (creating and initialising one when
    /// the lease has none), within the execution timeout. The instance goes
    /// back to the pool only if `op` succeeded or failed cleanly; one that
    /// trapped, broke the protocol or timed out is dropped with the lease.
    async fn on_instance<T>(
        &self,
        mut lease: Lease<'_>,
        op: impl AsyncFnOnce(&mut PluginInstance) -> Result<T, Failure>,
    ) -> Result<T, RunnerErrorKind> {
        let instance = match lease.instance.take() {
            Some(instance) => instance,
            None => {
                let config = self
                    .config
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                // Boxed: the creation future is large and rarely needed;
                // inline, it would make every call's future as large.
                match Box::pin(PluginInstance::create(&self.template, &config)).await {
                    Ok(instance) => Box::new(instance),
                    Err(failure) => return Err(failure.kind),
                }
            }
        };
        let instance = lease.instance.insert(instance);
        instance.arm_deadline();
        match op(instance).await {
            Ok(value) => {
                lease.release();
                Ok(value)
            }
            Err(failure) => {
                if !failure.poisoned {
                    lease.release();
                }
                Err(failure.kind)
            }
        }
    }
}
