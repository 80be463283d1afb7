//! [`Managed`]: one plugin under management — its serving version, its
//! adapters and its status.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use plugin_adapter::{AdapterError, PluginAbilities, PluginModule, PluginProvider, RunnerCell};
use plugin_core::{Condition, Manifest, PluginState, Provides, Report};

use super::lock::lock;
use super::origin::Origin;
use crate::registries::Registries;
use crate::status::{PluginStatus, describe_provides};

/// The adapters of one version of a plugin, all calling through its cell.
pub(crate) struct Adapters {
    module: Option<Arc<PluginModule>>,
    abilities: PluginAbilities,
    provider: Option<Arc<PluginProvider>>,
}

impl Adapters {
    pub(crate) fn new(cell: &Arc<RunnerCell>, provides: &Provides) -> Self {
        Self {
            module: provides
                .module
                .then(|| Arc::new(PluginModule::new(cell.clone()))),
            abilities: PluginAbilities::new(cell.clone(), &provides.abilities),
            provider: provides
                .provider
                .as_ref()
                .map(|p| Arc::new(PluginProvider::new(cell.clone(), p.name.clone(), p.oauth))),
        }
    }

    /// Registers everything, or nothing: on a conflict, whatever was
    /// registered is removed again (removal is owner-checked, so another
    /// plugin's entries are never touched).
    pub(crate) fn register(&self, registries: &Registries) -> Result<(), AdapterError> {
        let registered = (|| {
            if let Some(module) = &self.module {
                module.register(&*registries.modules)?;
            }
            self.abilities.register(&*registries.abilities)?;
            if let Some(provider) = &self.provider {
                provider.register(&*registries.providers)?;
            }
            Ok(())
        })();
        if registered.is_err() {
            self.unregister(registries);
        }
        registered
    }

    pub(crate) fn unregister(&self, registries: &Registries) {
        if let Some(module) = &self.module {
            module.unregister(&*registries.modules);
        }
        self.abilities.unregister(&*registries.abilities);
        if let Some(provider) = &self.provider {
            provider.unregister(&*registries.providers);
        }
    }
}

/// The version of a plugin that serves calls.
#[derive(Clone)]
pub(crate) struct Active {
    pub(crate) cell: Arc<RunnerCell>,
    pub(crate) manifest: Manifest,
    /// What the host granted it, as [`PluginStatus::permissions`] shows it.
    pub(crate) permissions: Vec<String>,
    /// What isolates it, as [`PluginStatus::confinement`] shows it.
    pub(crate) isolation: Vec<String>,
    pub(crate) adapters: Arc<Adapters>,
}

struct Status {
    state: PluginState,
    version: String,
    runtime: String,
    provides: Vec<String>,
    permissions: Vec<String>,
    confinement: Vec<String>,
    started_at: Option<Instant>,
    ready: Option<bool>,
    last_error: Option<String>,
    restarts: u32,
}

/// One plugin under management, identified by its name.
///
/// Invariants: lifecycle operations (first start, reload, restart, unload)
/// hold `op`, so they never interleave; `generation` grows by one each time
/// a new version is installed, which is how a supervisor knows the version
/// it watches has been replaced. What is learnt of a version after the
/// fact (its runner's reports, a health check) is written only while that
/// version is the serving one ([`Managed::reported`] and
/// [`Managed::health_failed`] take its generation), so a report of a
/// replaced version never overwrites the status of its successor.
pub(crate) struct Managed {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    /// Where it came from, so where a reload reads it.
    pub(crate) origin: Origin,
    pub(crate) op: tokio::sync::Mutex<()>,
    active: Mutex<Option<Active>>,
    status: Mutex<Status>,
    generation: AtomicU64,
}

impl Managed {
    /// A plugin about to be loaded from `dir`, found at `origin`.
    pub(crate) fn new(manifest: &Manifest, dir: PathBuf, origin: Origin) -> Self {
        Self {
            name: manifest.name.clone(),
            dir,
            origin,
            op: tokio::sync::Mutex::new(()),
            active: Mutex::new(None),
            status: Mutex::new(Status {
                state: PluginState::Loading,
                version: manifest.version.clone(),
                runtime: manifest.runtime.to_string(),
                provides: describe_provides(&manifest.provides),
                permissions: Vec::new(),
                confinement: Vec::new(),
                started_at: None,
                ready: None,
                last_error: None,
                restarts: 0,
            }),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn active(&self) -> Option<Active> {
        lock(&self.active).clone()
    }

    pub(crate) fn take_active(&self) -> Option<Active> {
        lock(&self.active).take()
    }

    pub(crate) fn cell(&self) -> Option<Arc<RunnerCell>> {
        lock(&self.active).as_ref().map(|a| a.cell.clone())
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records `active` as the serving version; returns its generation.
    pub(crate) fn installed(&self, active: Active) -> u64 {
        let mut status = lock(&self.status);
        status.state = PluginState::Running;
        status.version.clone_from(&active.manifest.version);
        status.provides = describe_provides(&active.manifest.provides);
        status.permissions.clone_from(&active.permissions);
        status.confinement.clone_from(&active.isolation);
        status.started_at = Some(Instant::now());
        status.ready = None;
        status.last_error = None;
        *lock(&self.active) = Some(active);
        // Under the status lock: a report of the previous version is
        // applied before this, or not at all.
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub(crate) fn state(&self) -> PluginState {
        lock(&self.status).state
    }

    pub(crate) fn set_state(&self, state: PluginState) {
        lock(&self.status).state = state;
    }

    /// Records an error without changing the state (a failed reload: the
    /// old version keeps serving).
    pub(crate) fn record(&self, error: String) {
        lock(&self.status).last_error = Some(error);
    }

    /// Records that version `generation` crashed and why, if that version
    /// still serves.
    pub(crate) fn crashed(&self, generation: u64, error: String) {
        let mut status = lock(&self.status);
        if self.generation() == generation {
            status.state = PluginState::Error;
            status.ready = Some(false);
            status.last_error = Some(error);
        }
    }

    /// Records an error that leaves the plugin without a working version.
    pub(crate) fn fail(&self, error: String) {
        let mut status = lock(&self.status);
        status.state = PluginState::Error;
        status.ready = Some(false);
        status.last_error = Some(error);
    }

    pub(crate) fn restarted(&self) {
        lock(&self.status).restarts += 1;
    }

    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.status).last_error.clone()
    }

    /// Applies what the runner of version `generation` reported, if that
    /// version still serves: readiness, a crash (state `error`; the
    /// supervisor restarts it) and the last error.
    pub(crate) fn reported(&self, generation: u64, report: &Report) {
        let mut status = lock(&self.status);
        if self.generation() != generation || status.state == PluginState::Stopping {
            return;
        }
        match &report.condition {
            Condition::Ready => {
                status.state = PluginState::Running;
                status.ready = Some(true);
            }
            Condition::Unready => {
                status.state = PluginState::Running;
                status.ready = Some(false);
            }
            condition if condition.is_crash() => {
                status.state = PluginState::Error;
                status.ready = Some(false);
            }
            _ => {}
        }
        if report.last_error.is_some() {
            status.last_error.clone_from(&report.last_error);
        }
    }

    /// Records that asking version `generation` for its health failed
    /// (it did not answer in time), if that version still serves.
    pub(crate) fn health_failed(&self, generation: u64, error: String) {
        let mut status = lock(&self.status);
        if self.generation() == generation {
            status.ready = Some(false);
            status.last_error = Some(error);
        }
    }

    pub(crate) fn status(&self) -> PluginStatus {
        let status = lock(&self.status);
        PluginStatus {
            name: self.name.clone(),
            version: status.version.clone(),
            runtime: status.runtime.clone(),
            dir: self.dir.clone(),
            state: status.state,
            ready: status.ready,
            uptime_ms: status
                .started_at
                .filter(|_| status.state == PluginState::Running)
                .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)),
            last_error: status.last_error.clone(),
            restarts: status.restarts,
            generation: self.generation(),
            provides: status.provides.clone(),
            permissions: status.permissions.clone(),
            confinement: status.confinement.clone(),
        }
    }
}
