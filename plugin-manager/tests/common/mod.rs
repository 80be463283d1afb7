//! Helpers shared by the manager's test binaries (`mod common;`): a
//! plugins folder and a data folder, a started manager, calls, and callers
//! that call in a loop to show no call is lost.

#![allow(dead_code, clippy::unwrap_used)] // each binary takes what it needs

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugin_manager::host::{DefaultHost, EmittedEvent};
use plugin_manager::{PluginManager, PluginStatus};
use plugin_types::{PluginConfig, SourceConfig};
use serde_json::Value;
use serde_json::value::RawValue;
use tempfile::TempDir;
use tokio::sync::broadcast;

use crate::plugin_dirs::copy_example;

/// A plugins folder and a data folder.
pub(crate) struct Setup {
    pub(crate) plugins: TempDir,
    pub(crate) data: TempDir,
}

impl Setup {
    /// `plugins/` holds the two examples.
    pub(crate) fn examples() -> Self {
        let setup = Self::empty();
        copy_example("hello-wasm", setup.plugins.path(), "hello-wasm");
        copy_example("hello-grpc", setup.plugins.path(), "hello-grpc");
        setup
    }

    pub(crate) fn empty() -> Self {
        Self {
            plugins: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn dir(&self, folder: &str) -> std::path::PathBuf {
        self.plugins.path().join(folder)
    }

    pub(crate) fn config(&self, hot_reload: bool) -> PluginConfig {
        PluginConfig {
            enabled: true,
            hot_reload,
            sources: vec![SourceConfig::local(self.plugins.path())],
            drain_timeout: Duration::from_secs(5),
            ..PluginConfig::default()
        }
    }

    pub(crate) async fn start(&self, config: PluginConfig) -> PluginManager {
        self.start_with(config, None).await
    }

    /// Like [`start`](Self::start), compiling wasm through the cache in
    /// `cache` (shared across tests: a component carrying a language
    /// runtime takes a while to compile).
    pub(crate) async fn start_with(
        &self,
        config: PluginConfig,
        cache: Option<&Path>,
    ) -> PluginManager {
        self.start_observed(config, cache).await.0
    }

    /// Like [`start_with`](Self::start_with), also subscribed to the
    /// events the plugins emit.
    pub(crate) async fn start_observed(
        &self,
        config: PluginConfig,
        cache: Option<&Path>,
    ) -> (PluginManager, broadcast::Receiver<EmittedEvent>) {
        let host = DefaultHost::open(self.data.path()).unwrap();
        let events = host.events().subscribe();
        let mut builder = PluginManager::builder(config, Arc::new(host))
            .restart_backoff(Duration::from_millis(50), Duration::from_secs(1))
            .health_interval(Duration::from_millis(200));
        if let Some(cache) = cache {
            builder = builder.wasm_cache_dir(cache);
        }
        let manager = builder.build();
        manager.start().await.unwrap();
        (manager, events)
    }
}

pub(crate) fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

pub(crate) async fn call(
    manager: &PluginManager,
    plugin: &str,
    function: &str,
    params: &str,
) -> Value {
    let result = manager.call(plugin, function, &raw(params)).await;
    serde_json::from_str(result.unwrap().get()).unwrap()
}

pub(crate) fn status(manager: &PluginManager, plugin: &str) -> PluginStatus {
    manager
        .get(plugin)
        .unwrap_or_else(|| panic!("{plugin} not listed"))
}

/// Polls `condition` every 50 ms for up to 20 s.
pub(crate) async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Callers calling `help` on a plugin in a loop until stopped.
pub(crate) struct Callers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(u64, Vec<String>)>>,
}

impl Callers {
    pub(crate) fn start(manager: &PluginManager, plugin: &str, count: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..count)
            .map(|_| {
                let (manager, plugin, stop) = (manager.clone(), plugin.to_owned(), stop.clone());
                tokio::spawn(async move {
                    let (mut ok, mut failed) = (0, Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        match manager.call(&plugin, "help", &raw("null")).await {
                            Ok(_) => ok += 1,
                            Err(e) => failed.push(e.to_string()),
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        Self { stop, tasks }
    }

    /// Stops them; asserts that no call failed and that calls were made.
    pub(crate) async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = 0;
        for task in self.tasks {
            let (ok, failed) = task.await.unwrap();
            assert!(failed.is_empty(), "calls failed: {failed:?}");
            total += ok;
        }
        assert!(total > 0, "no call was made");
        total
    }
}
