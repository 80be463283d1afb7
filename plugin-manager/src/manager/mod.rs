//! [`PluginManager`]: finds plugins, keeps them loaded, configured, healthy
//! and current.

mod hot_reload;
mod lock;
mod origin;
mod plugin;
mod sources;
mod supervise;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::join_all;
use plugin_adapter::RunnerCell;
use plugin_core::{
    HostCallContext, HostError, HostFunctions, HostGrants, Manifest, PluginState, Runner,
    RunnerSetup, Runtime,
};
use plugin_source::Source;
use plugin_types::PluginConfig;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ManagerError;
use crate::host::HostServices;
use crate::options::ManagerOptions;
use crate::registries::Registries;
use crate::runtime::Runtimes;
use crate::status::{ManagerDiagnostic, PluginStatus};
use lock::lock;
use origin::Origin;
use plugin::{Active, Adapters, Managed};

/// Keeps a host's plugins loaded, configured, healthy and current.
///
/// **Identity.** A plugin is identified by its manifest `name`. Sources are
/// read in the order of `PluginConfig.sources`, then those registered with
/// [`PluginManagerBuilder::source`], and plugins within a source in its
/// order (a folder's in path order); the first to provide a name wins, and
/// any later one is a diagnostic ("already loaded from …"). Calls, reloads and
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
/// **Runtimes.** A manifest's `runtime:` names a [`Runtime`] registered with
/// [`PluginManagerBuilder::runtime`]; `wasm` and `grpc` are registered by
/// default (each replaceable), and a manifest naming another is refused
/// with the list of those registered.
///
/// **Supervision.** A plugin's status is derived from what its runner
/// reports ([`Runner::events`]), each report applied only while the version
/// it describes is the serving one. A plugin whose runner reports a crash
/// (a process that died, a runtime's failure) is restarted with
/// exponential backoff (see [`ManagerOptions`]); its state is `error` until
/// a restart succeeds. Health is asked every `health_interval`.
///
/// Dropping the manager stops its background tasks and its plugins; call
/// [`shutdown`](Self::shutdown) to let calls in flight finish first.
///
/// [`reload`]: Self::reload
#[derive(Clone)]
pub struct PluginManager {
    inner: Arc<Shared>,
}

/// Builds a [`PluginManager`].
pub struct PluginManagerBuilder {
    config: PluginConfig,
    host: Arc<dyn HostServices>,
    registries: Registries,
    options: ManagerOptions,
    runtimes: Runtimes,
    sources: Vec<Arc<dyn Source>>,
    host_functions: HostFunctions,
}

impl PluginManagerBuilder {
    /// Runs plugins whose manifest says `runtime: NAME` on `runtime`,
    /// replacing any runtime registered under that name before (the
    /// default `wasm` and `grpc` ones included: register
    /// `WasmRuntime::new(engine)` to run wasm plugins on an engine of
    /// your own).
    pub fn runtime(mut self, name: impl Into<String>, runtime: impl Runtime + 'static) -> Self {
        self.runtimes.register(name.into(), Arc::new(runtime));
        self
    }

    /// Finds plugins in `source` too: [`PluginManager::start`] reads the
    /// sources the configuration names, in order, then those registered
    /// here, in registration order (the first to provide a name wins), and
    /// with `hot_reload` follows the changes each reports.
    pub fn source(mut self, source: Box<dyn Source>) -> Self {
        self.sources.push(Arc::from(source));
        self
    }

    /// Offers plugins the host function `name`: `f` gets the calling
    /// plugin (named by the host) and the input as `In`, and answers `Out`
    /// (JSON both ways, at most
    /// [`MAX_HOST_CALL_SIZE`](plugin_core::host_functions::MAX_HOST_CALL_SIZE)).
    /// Plugins reach it through each runtime's generic host import. A name
    /// already registered (a [built-in](plugin_core::host_functions::builtin)
    /// one too) is replaced.
    pub fn host_function<In, Out, F, Fut>(mut self, name: &str, f: F) -> Self
    where
        In: serde::de::DeserializeOwned + Send + 'static,
        Out: serde::Serialize + Send + 'static,
        F: Fn(HostCallContext, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, HostError>> + Send + 'static,
    {
        self.host_functions = self.host_functions.with(name, f);
        self
    }

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
    /// `plugin_wasm::ModuleCache`); with the `wasm` feature, for the
    /// `wasm` runtime registered by default.
    pub fn wasm_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.wasm_cache_dir = Some(dir.into());
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
        let runtimes = self.runtimes.with_defaults(&self.config, &self.options);
        PluginManager {
            inner: Arc::new(Shared {
                grants,
                runtimes,
                config: self.config,
                sources: self.sources,
                host: self.host,
                host_functions: self.host_functions,
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
    for path in crate::runtime::private_paths(options) {
        grants = grants.with_private(path);
    }
    grants
}

/// What the manager's clones and background tasks share: its settings,
/// registrations and plugins. Everything the manager knows is kept here
/// once.
pub(crate) struct Shared {
    grants: HostGrants,
    runtimes: Runtimes,
    config: PluginConfig,
    /// The sources registered with the builder.
    sources: Vec<Arc<dyn Source>>,
    host: Arc<dyn HostServices>,
    host_functions: HostFunctions,
    registries: Registries,
    options: ManagerOptions,
    plugins: RwLock<BTreeMap<String, Arc<Managed>>>,
    diagnostics: Mutex<Vec<ManagerDiagnostic>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    closing: AtomicBool,
}

impl Drop for Shared {
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
    isolation: Vec<String>,
    runner: Arc<dyn Runner>,
}

impl PluginManager {
    /// A manager for `config`, serving plugins' callbacks with `host`.
    pub fn builder(config: PluginConfig, host: Arc<dyn HostServices>) -> PluginManagerBuilder {
        PluginManagerBuilder {
            config,
            host,
            registries: Registries::default(),
            options: ManagerOptions::default(),
            runtimes: Runtimes::default(),
            sources: Vec::new(),
            host_functions: HostFunctions::new(),
        }
    }

    /// Discovers the plugins of every source (configured, then registered)
    /// and loads them;
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
        let sources = sources::all(&inner.config, &inner.sources)?;
        // Watching begins before discovery, so no change is missed between
        // the two; events wait in the watch until loading is done.
        let watches = if inner.config.hot_reload {
            sources::watch_all(&sources).await?
        } else {
            Vec::new()
        };
        let (reserved, diagnostics) = sources::discover_and_reserve(inner, &sources).await?;
        for diagnostic in &diagnostics {
            tracing::warn!(path = %diagnostic.path.display(), "plugin not loaded: {}", diagnostic.message);
        }
        *lock(&inner.diagnostics) = diagnostics;
        inner.bring_up(&reserved).await;

        let mut tasks = lock(&inner.tasks);
        for (source, events) in watches {
            tasks.push(hot_reload::spawn(Arc::downgrade(inner), source, events));
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
        let managed = self.inner.reserve(&manifest, folder, Origin::Folder)?;
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

    /// Calls `function` of `plugin` with `params` serialized to JSON, and
    /// deserializes its JSON result as `R`; an error says which side
    /// failed, naming the plugin and the function.
    pub async fn call_json<P, R>(
        &self,
        plugin: &str,
        function: &str,
        params: &P,
    ) -> Result<R, ManagerError>
    where
        P: serde::Serialize + ?Sized,
        R: serde::de::DeserializeOwned,
    {
        let params = serde_json::value::to_raw_value(params).map_err(|source| {
            ManagerError::SerializeParams {
                plugin: plugin.to_owned(),
                function: function.to_owned(),
                source,
            }
        })?;
        let result = self.call(plugin, function, &params).await?;
        serde_json::from_str(result.get()).map_err(|source| ManagerError::DeserializeResult {
            plugin: plugin.to_owned(),
            function: function.to_owned(),
            source,
        })
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

impl Shared {
    /// Records a diagnostic, replacing any earlier one of the same place.
    fn note(&self, diagnostic: ManagerDiagnostic) {
        let mut diagnostics = lock(&self.diagnostics);
        diagnostics.retain(|d| d.path != diagnostic.path);
        diagnostics.push(diagnostic);
    }

    /// Forgets the diagnostics of a place and what is inside it.
    fn forget_diagnostics(&self, dir: &Path) {
        lock(&self.diagnostics).retain(|d| !d.path.starts_with(dir));
    }

    /// Whether `managed` is still managed and still at `generation`.
    fn still_serves(&self, managed: &Arc<Managed>, generation: u64) -> bool {
        !self.closing.load(Ordering::Acquire)
            && managed.generation() == generation
            && self
                .get(&managed.name)
                .is_ok_and(|current| Arc::ptr_eq(&current, managed))
    }

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

    /// Claims the plugin's name (identity rule, `max_plugins`), listing it
    /// as `loading`.
    fn reserve(
        &self,
        manifest: &Manifest,
        dir: PathBuf,
        origin: Origin,
    ) -> Result<Arc<Managed>, ManagerError> {
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
        let managed = Arc::new(Managed::new(manifest, dir, origin));
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

    /// Validates the configuration, then loads and starts a new runner of
    /// the manifest's runtime.
    async fn start_version(&self, manifest: &Manifest) -> Result<Version, ManagerError> {
        let runtime = self.runtimes.for_manifest(manifest)?;
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
        let host =
            crate::host::with_functions(&self.host_functions, &manifest.name, host, &granted);
        let max_artifact_size =
            plugin_core::artifact::limit_for(&self.config.permissions, &manifest.name);
        let runner = runtime.runner(
            manifest,
            RunnerSetup {
                host,
                granted,
                max_artifact_size,
            },
        )?;
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
        Ok(Version {
            manifest: manifest.clone(),
            permissions,
            isolation: info.isolation,
            runner,
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
            isolation,
            runner,
        } = version;
        let events = runner.events();
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
                    isolation,
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
                    isolation,
                    adapters,
                }
            }
        };
        let version = active.manifest.version.clone();
        let generation = managed.installed(active);
        tracing::info!(plugin = %managed.name, %version, "plugin running");
        let supervisor = supervise::spawn_supervisor(
            Arc::downgrade(self),
            Arc::downgrade(managed),
            events,
            generation,
        );
        let mut tasks = lock(&self.tasks);
        tasks.retain(|task| !task.is_finished());
        tasks.push(supervisor);
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
            let manifest = managed.origin.reread(&managed.name, &managed.dir).await?;
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
