//! Runtimes are values a host registers: a third runtime (plugins of Rust
//! closures) is loaded, called, reloaded, supervised and refused through
//! the manager's public API, with no change to the manager.

#![allow(clippy::unwrap_used)] // tests panic on failure by design

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::PluginState;
use plugin_core::fn_runtime::{FnError, FnPlugin, FnRuntime};
use plugin_manager::host::DefaultHost;
use plugin_manager::{ManagerError, PluginManager};
use plugin_types::PluginConfig;
use serde_json::json;
use serde_json::value::RawValue;

/// A manager with the closure runtime registered as `native`, its plugins'
/// configuration `config`, restarting crashed plugins at once.
fn manager(runtime: FnRuntime, data: &Path, config: serde_json::Value) -> PluginManager {
    let host = DefaultHost::open(data).unwrap();
    let mut plugins = PluginConfig {
        enabled: true,
        hot_reload: false,
        ..PluginConfig::default()
    };
    plugins.config.insert("counter".into(), config);
    PluginManager::builder(plugins, Arc::new(host))
        .runtime("native", runtime)
        .restart_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .health_interval(Duration::ZERO)
        .build()
}

fn write_manifest(dir: &Path, body: &str) {
    std::fs::write(dir.join("plugin.yaml"), body).unwrap();
}

fn raw(value: serde_json::Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(&value).unwrap()
}

/// `counter`: `add` keeps a running total in the host's KV store and says
/// which configuration it runs with; `crash` breaks the plugin.
fn counter() -> FnRuntime {
    let plugin = FnPlugin::new()
        .function("add", async |call| {
            let by = call.params["by"].as_u64().unwrap_or(1);
            let total = call
                .host
                .kv_get("total")
                .await
                .map_err(|e| FnError::Failed(e.to_string()))?
                .and_then(|v| String::from_utf8(v).ok()?.parse::<u64>().ok())
                .unwrap_or(0)
                + by;
            call.host
                .kv_set("total", total.to_string().as_bytes())
                .await
                .map_err(|e| FnError::Failed(e.to_string()))?;
            Ok(json!({"total": total, "label": call.config["label"]}))
        })
        .function("crash", async |_| {
            Err(FnError::Crashed("lost its state".into()))
        })
        .function("refuse", async |_| Err(FnError::Failed("no".into())));
    FnRuntime::new().plugin("counter", plugin)
}

#[tokio::test]
async fn a_registered_runtime_is_loaded_called_reloaded_and_supervised() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    write_manifest(
        folder.path(),
        "name: counter\nversion: 1.0.0\nruntime: native\n",
    );
    let manager = manager(counter(), data.path(), json!({"label": "first"}));

    let status = manager.load_dir(folder.path()).await.unwrap();
    assert_eq!(
        (status.state, status.runtime.as_str(), status.generation),
        (PluginState::Running, "native", 1)
    );
    let answer = manager
        .call("counter", "add", &raw(json!({"by": 2})))
        .await
        .unwrap();
    assert_eq!(answer.get(), r#"{"label":"first","total":2}"#);
    let refused = manager
        .call("counter", "refuse", &raw(json!(null)))
        .await
        .unwrap_err();
    assert_eq!(refused.to_string(), "plugin counter: call refuse: no");
    let unsupported = manager
        .call("counter", "missing", &raw(json!(null)))
        .await
        .unwrap_err();
    assert!(
        unsupported.to_string().contains("unsupported"),
        "{unsupported}"
    );

    // Reload: a new version, the host's KV kept.
    write_manifest(
        folder.path(),
        "name: counter\nversion: 2.0.0\nruntime: native\n",
    );
    let status = manager.reload("counter").await.unwrap();
    assert_eq!((status.version.as_str(), status.generation), ("2.0.0", 2));
    let answer = manager
        .call("counter", "add", &raw(json!({"by": 3})))
        .await
        .unwrap();
    assert_eq!(answer.get(), r#"{"label":"first","total":5}"#);

    // Supervision: the runner reports the crash; the manager restarts it.
    let crashed = manager
        .call("counter", "crash", &raw(json!(null)))
        .await
        .unwrap_err();
    assert_eq!(
        crashed.to_string(),
        "plugin counter: call crash: failed: lost its state"
    );
    let restarted = wait_for(&manager, |s| {
        s.restarts == 1 && s.state == PluginState::Running
    })
    .await;
    assert_eq!(restarted.generation, 3);
    assert_eq!(restarted.version, "2.0.0");
    let answer = manager
        .call("counter", "add", &raw(json!({"by": 1})))
        .await
        .unwrap();
    assert_eq!(answer.get(), r#"{"label":"first","total":6}"#);

    manager.unload("counter").await.unwrap();
    assert!(manager.get("counter").is_none());
    manager.shutdown().await;
}

#[tokio::test]
async fn a_crash_shows_in_the_status_until_the_restart() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    write_manifest(folder.path(), "name: counter\nruntime: native\n");
    let host = DefaultHost::open(data.path()).unwrap();
    let plugins = PluginConfig {
        enabled: true,
        hot_reload: false,
        ..PluginConfig::default()
    };
    // A long backoff: the crash stays visible.
    let manager = PluginManager::builder(plugins, Arc::new(host))
        .runtime("native", counter())
        .restart_backoff(Duration::from_secs(600), Duration::from_secs(600))
        .health_interval(Duration::ZERO)
        .build();
    manager.load_dir(folder.path()).await.unwrap();
    manager
        .call("counter", "crash", &raw(json!(null)))
        .await
        .unwrap_err();
    let down = wait_for(&manager, |s| s.state == PluginState::Error).await;
    let why = down.last_error.unwrap();
    assert!(
        why.starts_with("plugin counter failed: plugin counter: call crash: failed: lost its state; restart 1 in 10m"),
        "{why}"
    );
    assert_eq!(down.ready, Some(false));
    manager.shutdown().await;
}

#[tokio::test]
async fn a_manifest_naming_an_unregistered_runtime_lists_the_registered_ones() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    write_manifest(
        folder.path(),
        "name: counter\nruntime: docker\ndocker: {image: counter:1}\n",
    );
    let manager = manager(counter(), data.path(), json!({}));
    let error = manager.load_dir(folder.path()).await.unwrap_err();
    assert!(matches!(error, ManagerError::UnknownRuntime { .. }));
    assert_eq!(
        error.to_string(),
        "plugin counter: runtime \"docker\" is not registered on this host (registered: grpc, native, wasm)"
    );
    let status = manager.get("counter").unwrap();
    assert_eq!(status.state, PluginState::Error);

    // A registered runtime checks the manifest: no closure table for this name.
    let other = tempfile::tempdir().unwrap();
    write_manifest(other.path(), "name: stranger\nruntime: native\n");
    let error = manager.load_dir(other.path()).await.unwrap_err();
    assert!(
        error.to_string().ends_with(
            "plugin.yaml: name: runtime native has no plugin \"stranger\" (it has: counter)"
        ),
        "{error}"
    );
    manager.shutdown().await;
}

/// Polls the status of `counter` until `done` holds (bounded: 10 s).
async fn wait_for(
    manager: &PluginManager,
    done: impl Fn(&plugin_manager::PluginStatus) -> bool,
) -> plugin_manager::PluginStatus {
    for _ in 0..1000 {
        if let Some(status) = manager.get("counter")
            && done(&status)
        {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("status never got there: {:?}", manager.get("counter"));
}
