//! [`PluginManager`]: finds plugins, keeps them loaded, configured, healthy
//! and current.

mod hot_reload;
mod plugin;
mod supervise;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::join_all;
use plugin_adapter::RunnerCell;
use plugin_core::{HostGrants, Manifest, PluginState, Runner};
use plugin_grpc::PluginExit;
use plugin_source::{Source, from_config};
use plugin_types::PluginConfig;
use plugin_wasm::{ModuleCache, WasmEngine};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ManagerError;
use crate::host::HostServices;
use crate::options::ManagerOptions;
use crate::registries::Registries;
use crate::runtime::{NewRunner, WasmSetup, new_runner};
use crate::status::{ManagerDiagnostic, PluginStatus};
use plugin::{Active, Adapters, Managed, lock};

/// Keeps a host's plugins loaded, configured, healthy and current.
///
/// **Identity.** A plugin is identified by its manifest `name`. Sources are
/// read in the order of `PluginConfig.sources`, and plugin folders within a
/// source in path order; the first folder to provide a name wins, and any
/// later one is a diagnostic ("already loaded from …"). Calls, reloads and
/// the admin API address plugins by that name. The same order settles an
/// ability operation (or provider) two plugins claim: plugins start
/// concurrently and each serves as soon as it is up, but plugins with a
/// claim in common are registered in discovery order, and the later one
/// fails. One plugin's slow or failing load delays no other.
///
/// **Limits.** `max_plugins` bounds the plugins the manager holds, failed
/// ones included (their error stays visible until they are unloaded);
/// folders past the limit are diagnostics.
///
/// **Versions.** Each plugin has at most one serving version at a time,
/// behind a [`RunnerCell`] that its adapters call through. [`reload`]
/// validates, loads and starts the new version *before* swapping it in;
/// calls that began on the old version finish there, then it is stopped.
/// If anything fails, the old version keeps serving and the error is the
/// plugin's `last_error`.
///
/// **Supervision.** A gRPC plugin whose process dies is restarted with
/// exponential backoff (see [`ManagerOptions`]); its state is `error` until
/// a restart succeeds. Health is polled every `health_interval`.
///
/// Dropping the manager stops its background tasks and its plugins; call
/// [`shutdown`](Self::shutdown) to let calls in flight finish first.
///
/// [`reload`]: Self::reload
#[derive(Clone)]
pub struct PluginManager {
    inner: Arc<Inner>,
}

/// Builds a [`PluginManager`].
pub struct PluginManagerBuilder {
    config: PluginConfig,
    host: Arc<dyn HostServices>,
    registries: Registries,
    options: ManagerOptions,
    wasm_engine: Option<WasmEngine>,
}

impl PluginManagerBuilder {
    /// Registers plugins' adapters into `registries` (default: in-memory).
    pub fn registries(mut self, registries: Registries) -> Self {
        self.registries = registries;
        self
    }

    /// Restarts a dead plugin after `initial`, doubling up to `max`.
    pub fn restart_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.options.restart_initial = initial;
        self.options.restart_max = max.max(initial);
        self
    }

    /// Polls every plugin's health this often (zero: never).
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.options.health_interval = interval;
        self
    }

    /// Caches compiled wasm modules in `dir` (created 0700; entries are
    /// authenticated with a key kept beside it, see
    /// [`plugin_wasm::ModuleCache`]).
    pub fn wasm_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.wasm_cache_dir = Some(dir.into());
        self
    }

    /// Runs wasm plugins on `engine` (for example a
    /// [pooling](plugin_wasm::WasmEngine::pooling) engine the embedder
    /// shares with runners of its own) instead of the engine the host
    /// configuration's `plugins.wasm` section makes.
    pub fn wasm_engine(mut self, engine: WasmEngine) -> Self {
        self.wasm_engine = Some(engine);
        self
    }

    /// The host's data folder, where each plugin gets `plugins/<name>`
    /// (`$DATA` in its manifest); the rest of it is never granted.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.data_dir = Some(dir.into());
        self
    }

    /// All supervision settings at once.
    pub fn options(mut self, options: ManagerOptions) -> Self {
        self.options = options;
        self
    }

    /// The manager; nothing is loaded until [`PluginManager::start`] or
    /// [`PluginManager::load_dir`].
    pub fn build(self) -> PluginManager {
        let grants = host_grants(&self.config, &self.options);
        let wasm_cache = self.options.wasm_cache_dir.as_ref().and_then(|dir| {
            ModuleCache::open(dir)
                .inspect_err(|e| {
                    tracing::warn!(dir = %dir.display(), "wasm modules will not be cached: {e}");
                })
                .ok()
        });
        let wasm = WasmSetup {
            cache: wasm_cache,
            engine: self
                .wasm_engine
                .or_else(|| WasmSetup::engine_for(&self.config.wasm)),
        };
        PluginManager {
            inner: Arc::new(Inner {
                grants,
                wasm,
                config: self.config,
                host: self.host,
                registries: self.registries,
                options: self.options,
                plugins: RwLock::new(BTreeMap::new()),
                diagnostics: Mutex::new(Vec::new()),
                tasks: Mutex::new(Vec::new()),
                closing: AtomicBool::new(false),
            }),
        }
    }
}

/// The host's grants: its policy, its data folder, and what of its own
/// is never granted (the compile cache and its key).
fn host_grants(config: &PluginConfig, options: &ManagerOptions) -> HostGrants {
    let mut grants = HostGrants::new(config.permissions.clone());
    if let Some(dir) = &options.data_dir {
        grants = grants.with_data_dir(dir.clone());
    }
    if let Some(dir) = &options.wasm_cache_dir {
        grants = grants
            .with_private(dir.clone())
            .with_private(ModuleCache::key_path(dir));
    }
    grants
}

pub(crate) struct Inner {
    grants: HostGrants,
    wasm: WasmSetup,
    config: PluginConfig,
    host: Arc<dyn HostServices>,
    registries: Registries,
    options: ManagerOptions,
    plugins: RwLock<BTreeMap<String, Arc<Managed>>>,
    diagnostics: Mutex<Vec<ManagerDiagnostic>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closing: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// A started version, not yet serving.
struct Version {
    manifest: Manifest,
    permissions: Vec<String>,
    confinement: Vec<String>,
    runner: Arc<dyn Runner>,
    exits: Option<watch::Receiver<Option<PluginExit>>>,
}

impl PluginManager {
    /// A manager for `config`, serving plugins' callbacks with `host`.
    pub fn builder(config: PluginConfig, host: Arc<dyn HostServices>) -> PluginManagerBuilder {
        PluginManagerBuilder {
            config,
            host,
            registries: Registries::default(),
            options: ManagerOptions::default(),
            wasm_engine: None,
        }
    }

    /// Discovers the plugins of every configured source and loads them;
    /// with `hot_reload`, keeps watching the sources. Plugins that fail to
    /// load are listed in state `error`; folders that could not be used are
    /// [`diagnostics`](Self::diagnostics). Fails only if a source itself is
    /// unusable. Does nothing when the configuration is not `enabled`.
    pub async fn start(&self) -> Result<(), ManagerError> {
        let inner = &self.inner;
        if !inner.config.enabled {
            tracing::info!("plugins are disabled (plugins.enabled is false)");
            return Ok(());
        }
        let sources = inner
            .config
            .sources
            .iter()
            .map(from_config)
            .collect::<Result<Vec<Box<dyn Source>>, _>>()?;
        // Watching begins before discovery, so no change is missed between
        // the two; events wait in the watch until loading is done.
        let watches = if inner.config.hot_reload {
            sources
                .iter()
                .map(|s| s.watch())
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        let mut diagnostics = Vec::new();
        let mut reserved = Vec::new();
        for source in &sources {
            let found = source.discover().await?;
            diagnostics.extend(found.diagnostics.into_iter().map(|d| ManagerDiagnostic {
                path: d.path,
                message: d.error.to_string(),
            }));
            for plugin in found.plugins {
                match inner.reserve(&plugin.manifest, plugin.dir.clone()) {
                    Ok(managed) => reserved.push((managed, plugin.manifest)),
                    Err(e) => diagnostics.push(ManagerDiagnostic {
                        path: plugin.dir,
                        message: e.to_string(),
                    }),
                }
            }
        }
        for diagnostic in &diagnostics {
            tracing::warn!(path = %diagnostic.path.display(), "plugin not loaded: {}", diagnostic.message);
        }
        *lock(&inner.diagnostics) = diagnostics;
        inner.bring_up(&reserved).await;

        let mut tasks = lock(&inner.tasks);
        for watch in watches {
            tasks.push(hot_reload::spawn(Arc::downgrade(inner), watch));
        }
        if !inner.options.health_interval.is_zero() {
            tasks.push(supervise::spawn_health_poll(Arc::downgrade(inner)));
        }
        Ok(())
    }

    /// Loads the plugin in `dir` (a plugin folder or its manifest file), as
    /// discovery would, and returns its status once it runs.
    pub async fn load_dir(&self, dir: &Path) -> Result<PluginStatus, ManagerError> {
        let manifest = Manifest::from_file(dir)?;
        let folder = manifest.dir.clone().unwrap_or_else(|| dir.to_path_buf());
        let managed = self.inner.reserve(&manifest, folder)?;
        let plugin = [(managed, manifest)];
        self.inner
            .bring_up(&plugin)
            .await
            .into_iter()
            .collect::<Result<(), _>>()?;
        Ok(plugin[0].0.status())
    }

    /// Calls `function` of `plugin` with JSON `params`.
    pub async fn call(
        &self,
        plugin: &str,
        function: &str,
        params: &RawValue,
    ) -> Result<Box<RawValue>, ManagerError> {
        let managed = self.inner.get(plugin)?;
        let cell = managed.cell().ok_or_else(|| not_running(&managed))?;
        Ok(cell.call(function, params).await?)
    }

    /// Every managed plugin, by name.
    pub fn list(&self) -> Vec<PluginStatus> {
        self.inner.all().iter().map(|m| m.status()).collect()
    }

    /// One plugin's status.
    pub fn get(&self, plugin: &str) -> Option<PluginStatus> {
        self.inner.get(plugin).ok().map(|m| m.status())
    }

    /// The plugin folders that were found but not loaded, and why.
    pub fn diagnostics(&self) -> Vec<ManagerDiagnostic> {
        lock(&self.inner.diagnostics).clone()
    }

    /// The registries plugins' adapters are registered in.
    pub fn registries(&self) -> &Registries {
        &self.inner.registries
    }

    /// Reloads `plugin` from its folder: the new version is validated,
    /// loaded and started, then swapped in; the old one finishes its calls
    /// and stops. On failure the old version keeps serving and the error is
    /// recorded as the plugin's `last_error`.
    pub async fn reload(&self, plugin: &str) -> Result<PluginStatus, ManagerError> {
        let managed = self.inner.get(plugin)?;
        self.inner.reload(&managed).await?;
        Ok(managed.status())
    }

    /// Unregisters `plugin`'s adapters, lets its calls in flight finish (up
    /// to `drain_timeout`), stops it and forgets it.
    pub async fn unload(&self, plugin: &str) -> Result<(), ManagerError> {
        let managed = self.inner.get(plugin)?;
        self.inner.unload(&managed).await
    }

    /// Stops watching and supervising, then unloads every plugin, letting
    /// calls in flight finish.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.closing.store(true, Ordering::Release);
        // Wait for the aborted tasks to be gone, not just told to go: when
        // `shutdown` returns, nothing of this manager is still running or
        // holding the host (a host application may reopen its data next).
        let tasks: Vec<_> = lock(&inner.tasks).drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        join_all(tasks).await;
        join_all(inner.all().iter().map(|managed| async move {
            if let Err(e) = inner.unload(managed).await {
                tracing::warn!(plugin = %managed.name, "stopping failed: {e}");
            }
        }))
        .await;
    }
}

/// What registering `provides` claims that another plugin could claim too:
/// its ability operations and its provider (a module is registered under
/// the plugin's own name, which is unique).
fn claims(provides: &plugin_core::Provides) -> BTreeSet<String> {
    let abilities = provides.abilities.iter().flat_map(|ability| {
        ability
            .operations
            .iter()
            .map(move |op| format!("ability {}/{op}", ability.capability))
    });
    let provider = provides
        .provider
        .iter()
        .map(|provider| format!("provider {}", provider.name));
    abilities.chain(provider).collect()
}

fn not_running(managed: &Managed) -> ManagerError {
    ManagerError::NotRunning {
        plugin: managed.name.clone(),
        state: managed.state(),
        reason: managed
            .last_error()
            .unwrap_or_else(|| "no version is serving".into()),
    }
}

impl Inner {
    fn get(&self, plugin: &str) -> Result<Arc<Managed>, ManagerError> {
        self.plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(plugin)
            .cloned()
            .ok_or_else(|| ManagerError::NotFound(plugin.to_owned()))
    }

    fn all(&self) -> Vec<Arc<Managed>> {
        self.plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn find_by_dir(&self, dir: &Path) -> Option<Arc<Managed>> {
        self.all().into_iter().find(|m| m.dir == dir)
    }

    /// Claims the plugin's name (identity rule, `max_plugins`), listing it
    /// as `loading`.
    fn reserve(&self, manifest: &Manifest, dir: PathBuf) -> Result<Arc<Managed>, ManagerError> {
        let mut plugins = self.plugins.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = plugins.get(&manifest.name) {
            return Err(ManagerError::Duplicate {
                plugin: manifest.name.clone(),
                dir,
                existing: existing.dir.clone(),
            });
        }
        if plugins.len() >= self.config.max_plugins {
            return Err(ManagerError::TooMany {
                plugin: manifest.name.clone(),
                max: self.config.max_plugins,
            });
        }
        let managed = Arc::new(Managed::new(manifest, dir));
        plugins.insert(manifest.name.clone(), managed.clone());
        Ok(managed)
    }

    /// The plugin's configuration: its entry in `PluginConfig.config`, or an
    /// empty object.
    fn config_for(&self, plugin: &str) -> Value {
        self.config
            .config
            .get(plugin)
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()))
    }

    /// Validates the configuration, then loads and starts a new runner.
    async fn start_version(&self, manifest: &Manifest) -> Result<Version, ManagerError> {
        let config = self.config_for(&manifest.name);
        manifest.validate_config(&config)?;
        let granted = self
            .grants
            .grant(manifest)
            .map_err(|source| ManagerError::Denied {
                plugin: manifest.name.clone(),
                source: Box::new(source),
            })?;
        let permissions = granted.describe(manifest);
        let host = self
            .host
            .host_for(manifest, &config, &granted)
            .map_err(|source| ManagerError::Host {
                plugin: manifest.name.clone(),
                source,
            })?;
        let max_artifact_size =
            plugin_core::artifact::limit_for(&self.config.permissions, &manifest.name);
        let NewRunner { runner, exits } =
            new_runner(manifest, host, granted, max_artifact_size, &self.wasm)?;
        let started = async {
            let info = runner.load(manifest).await?;
            runner.start(&config).await?;
            Ok::<_, plugin_core::RunnerError>(info)
        }
        .await;
        let info = match started {
            Ok(info) => info,
            Err(e) => {
                let _ = runner.stop(Duration::ZERO).await;
                return Err(e.into());
            }
        };
        let confinement = info
            .confinement
            .map(|report| report.measures.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        Ok(Version {
            manifest: manifest.clone(),
            permissions,
            confinement,
            runner,
            exits,
        })
    }

    /// Makes `version` the serving version of `managed` (caller holds `op`).
    async fn install(
        self: &Arc<Self>,
        managed: &Arc<Managed>,
        version: Version,
    ) -> Result<(), ManagerError> {
        let Version {
            manifest,
            permissions,
            confinement,
            runner,
            exits,
        } = version;
        let registries = &self.registries;
        let active = match managed.active() {
            None => {
                let cell = Arc::new(RunnerCell::new(&*managed.name, runner));
                let adapters = Arc::new(Adapters::new(&cell, &manifest.provides));
                if let Err(e) = adapters.register(registries) {
                    let _ = cell.runner().stop(Duration::ZERO).await;
                    return Err(e.into());
                }
                Active {
                    cell,
                    manifest,
                    permissions,
                    confinement,
                    adapters,
                }
            }
            Some(old) => {
                let adapters = if old.manifest.provides == manifest.provides {
                    old.adapters.clone()
                } else {
                    old.adapters.unregister(registries);
                    let adapters = Arc::new(Adapters::new(&old.cell, &manifest.provides));
                    if let Err(e) = adapters.register(registries) {
                        if let Err(again) = old.adapters.register(registries) {
                            tracing::error!(plugin = %managed.name, "could not restore the adapters: {again}");
                        }
                        let _ = runner.stop(Duration::ZERO).await;
                        return Err(e.into());
                    }
                    adapters
                };
                let drain = self.config.drain_timeout;
                let retired = old.cell.swap(runner, drain).await;
                // `swap` waited out the drain: calls still running are
                // cancelled now.
                if let Err(e) = retired.stop(Duration::ZERO).await {
                    tracing::warn!(plugin = %managed.name, "stopping the previous version: {e}");
                }
                Active {
                    cell: old.cell,
                    manifest,
                    permissions,
                    confinement,
                    adapters,
                }
            }
        };
        let version = active.manifest.version.clone();
        let generation = managed.installed(active);
        tracing::info!(plugin = %managed.name, %version, "plugin running");
        if let Some(exits) = exits {
            let supervisor = supervise::spawn_supervisor(
                Arc::downgrade(self),
                Arc::downgrade(managed),
                exits,
                generation,
            );
            let mut tasks = lock(&self.tasks);
            tasks.retain(|task| !task.is_finished());
            tasks.push(supervisor);
        }
        Ok(())
    }

    /// Starts `manifest`'s version and makes it the serving one (caller
    /// holds `op`).
    async fn deploy(
        self: &Arc<Self>,
        managed: &Arc<Managed>,
        manifest: &Manifest,
    ) -> Result<(), ManagerError> {
        let version = self.start_version(manifest).await?;
        self.install(managed, version).await
    }

    /// First start of reserved plugins. Their runners start concurrently,
    /// and each is installed (adapters registered) as soon as it is up, so
    /// a slow or stuck plugin holds up no other. Plugins that claim the
    /// same ability operation or provider are installed in the order given,
    /// so when two claim one the first in discovery order wins, every
    /// time. A failure leaves that plugin listed in state `error`.
    async fn bring_up(
        self: &Arc<Self>,
        plugins: &[(Arc<Managed>, Manifest)],
    ) -> Vec<Result<(), ManagerError>> {
        let claims: Vec<BTreeSet<String>> =
            plugins.iter().map(|(_, m)| claims(&m.provides)).collect();
        let installed: Vec<watch::Sender<bool>> =
            plugins.iter().map(|_| watch::Sender::new(false)).collect();
        let (claims, installed) = (&claims, &installed);
        join_all(
            plugins
                .iter()
                .enumerate()
                .map(|(at, (managed, manifest))| async move {
                    let _op = managed.op.lock().await;
                    let result = match self.start_version(manifest).await {
                        Ok(version) => {
                            for earlier in 0..at {
                                if !claims[at].is_disjoint(&claims[earlier]) {
                                    let mut done = installed[earlier].subscribe();
                                    let _ = done.wait_for(|done| *done).await;
                                }
                            }
                            self.install(managed, version).await
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(e) = &result {
                        tracing::warn!(plugin = %managed.name, "plugin failed to start: {e}");
                        managed.fail(e.to_string());
                    }
                    installed[at].send_replace(true);
                    result
                }),
        )
        .await
    }

    async fn reload(self: &Arc<Self>, managed: &Arc<Managed>) -> Result<(), ManagerError> {
        let _op = managed.op.lock().await;
        let result = async {
            let manifest = Manifest::from_file(&managed.dir)?;
            if manifest.name != managed.name {
                return Err(ManagerError::IdentityChanged {
                    plugin: managed.name.clone(),
                    found: manifest.name,
                });
            }
            self.deploy(managed, &manifest).await
        }
        .await;
        match &result {
            Ok(()) => tracing::info!(plugin = %managed.name, "plugin reloaded"),
            Err(e) if managed.active().is_some() => {
                tracing::warn!(plugin = %managed.name, "reload failed, the previous version keeps serving: {e}");
                managed.record(format!(
                    "reload failed, the previous version keeps serving: {e}"
                ));
            }
            Err(e) => managed.fail(e.to_string()),
        }
        result
    }

    async fn unload(&self, managed: &Arc<Managed>) -> Result<(), ManagerError> {
        let _op = managed.op.lock().await;
        managed.set_state(PluginState::Stopping);
        let active = managed.take_active();
        if let Some(active) = &active {
            active.adapters.unregister(&self.registries);
        }
        {
            let mut plugins = self.plugins.write().unwrap_or_else(|p| p.into_inner());
            if plugins
                .get(&managed.name)
                .is_some_and(|m| Arc::ptr_eq(m, managed))
            {
                plugins.remove(&managed.name);
            }
        }
        if let Some(active) = active {
            active.cell.runner().stop(self.config.drain_timeout).await?;
        }
        tracing::info!(plugin = %managed.name, "plugin unloaded");
        Ok(())
    }
}
