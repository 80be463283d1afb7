//! The manager end to end on real plugins of both runtimes: real folders,
//! real inotify events, real processes, a real database file.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::Path;
use std::time::Duration;

use plugin_core::PluginState;
use plugin_manager::{ManagerError, PluginManager};
use plugin_types::event::Kv;
use plugin_types::{ByteSize, WasmPooling};
use serde_json::json;

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;
use common::{Callers, Setup, call, raw, status, wait_for};
use plugin_dirs::{copy_example, raw_grpc, replace, retagged, set_manifest_field};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loads_both_runtimes_and_reports_broken_and_duplicate_folders() {
    let setup = Setup::examples();
    let broken = setup.dir("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("plugin.yaml"), "name: broken\nruntime: wasm\n").unwrap();
    copy_example("hello-wasm", setup.plugins.path(), "zz-hello-copy");

    let manager = setup.start(setup.config(false)).await;
    let names: Vec<_> = manager.list().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["hello-grpc", "hello-wasm"]);
    for plugin in manager.list() {
        assert_eq!(plugin.state, PluginState::Running, "{plugin:?}");
        assert_eq!(plugin.generation, 1);
        // Process plugins are confined; wasm plugins are in their sandbox.
        let confined = plugin.confinement.iter().any(|m| m.starts_with("memory: "));
        assert_eq!(confined, plugin.name == "hello-grpc", "{plugin:?}");
    }
    let diagnostics = manager.diagnostics();
    assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
    let messages: Vec<_> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("broken") && m.contains("wasm")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("zz-hello-copy")
            && m.contains("already loaded from")
            && m.contains("hello-wasm")),
        "{messages:?}"
    );

    // Calls by identity, and through the registries the adapters filled.
    let greeting = call(&manager, "hello-wasm", "greet", r#"{"name":"Ada"}"#).await;
    assert_eq!(greeting["text"], "Hello, Ada!");
    let greeting = call(&manager, "hello-grpc", "greet", r#"{"name":"Bob"}"#).await;
    assert_eq!(greeting["text"], "Hello, Bob!");
    let registries = manager.registries();
    assert_eq!(
        registries.modules.module_names(),
        ["hello-grpc", "hello-wasm"]
    );
    let invoker = registries.abilities.invoker("greeting", "greet").unwrap();
    let result = invoker
        .invoke(Kv::from_iter([("name".to_owned(), json!("Cy"))]))
        .await
        .unwrap();
    assert_eq!(result.capability, "greeting");

    let err = manager
        .call("nope", "greet", &raw("null"))
        .await
        .unwrap_err();
    assert!(matches!(err, ManagerError::NotFound(_)), "{err}");
    manager.shutdown().await;
    assert!(manager.list().is_empty());
    assert!(registries.modules.module_names().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_config_its_schema_rejects_fails_that_plugin_only() {
    let setup = Setup::examples();
    let mut config = setup.config(false);
    config
        .config
        .insert("hello-wasm".into(), json!({"greeting": ""}));
    let manager = setup.start(config).await;

    let wasm = status(&manager, "hello-wasm");
    assert_eq!(wasm.state, PluginState::Error);
    let error = wasm.last_error.unwrap();
    assert!(
        error.contains("hello-wasm") && error.contains("/greeting"),
        "{error}"
    );
    let err = manager
        .call("hello-wasm", "help", &raw("null"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not running") && err.to_string().contains("/greeting"),
        "{err}"
    );
    assert_eq!(status(&manager, "hello-grpc").state, PluginState::Running);
    assert!(manager.registries().modules.module("hello-wasm").is_none());
    manager.shutdown().await;
}

/// `plugins.wasm.pooling` with `instances` slots of 64MiB.
fn pool_of(instances: u32) -> WasmPooling {
    WasmPooling {
        instances,
        max_memory: ByteSize::mib(64),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plugins_wasm_pooling_runs_wasm_on_reserved_slots() {
    // hello-wasm asks 4 instances of 16MiB; a pool of 3 cannot hold it.
    let setup = Setup::examples();
    let mut config = setup.config(false);
    config.wasm.pooling = Some(pool_of(3));
    let manager = setup.start(config.clone()).await;
    let wasm = status(&manager, "hello-wasm");
    assert_eq!(wasm.state, PluginState::Error);
    let error = wasm.last_error.unwrap();
    for part in [
        "hello-wasm",
        "wasm.pool.max_instances 4",
        "plugins.wasm.pooling.instances",
    ] {
        assert!(error.contains(part), "{part}: {error}");
    }
    assert_eq!(status(&manager, "hello-grpc").state, PluginState::Running);
    manager.shutdown().await;
    drop(manager);

    // Room for it: it serves, and a reload (a second pool beside the
    // first until it drains) fits too.
    config.wasm.pooling = Some(pool_of(8));
    let manager = setup.start(config.clone()).await;
    assert_eq!(status(&manager, "hello-wasm").state, PluginState::Running);
    let hello = call(&manager, "hello-wasm", "greet", r#"{"name": "Pool"}"#).await;
    assert!(hello.to_string().contains("Pool"), "{hello}");
    // Each reload gives the old pool's slots back once it drained.
    for _ in 0..3 {
        manager.reload("hello-wasm").await.unwrap();
        let hello = call(&manager, "hello-wasm", "greet", r#"{"name": "Again"}"#).await;
        assert!(hello.to_string().contains("Again"), "{hello}");
    }
    manager.shutdown().await;
    drop(manager);

    // Limits no pool can hold: logged, and wasm runs on demand.
    config.wasm.pooling = Some(pool_of(0));
    let manager = setup.start(config.clone()).await;
    assert_eq!(status(&manager, "hello-wasm").state, PluginState::Running);
    manager.shutdown().await;
    drop(manager);

    // Room for one version only: a reload is refused, naming the setting,
    // and the running version keeps serving.
    config.wasm.pooling = Some(pool_of(4));
    let manager = setup.start(config).await;
    assert_eq!(status(&manager, "hello-wasm").state, PluginState::Running);
    let err = manager.reload("hello-wasm").await.unwrap_err().to_string();
    assert!(err.contains("plugins.wasm.pooling.instances"), "{err}");
    let hello = call(&manager, "hello-wasm", "greet", r#"{"name": "Still"}"#).await;
    assert!(hello.to_string().contains("Still"), "{hello}");
    assert_eq!(status(&manager, "hello-wasm").state, PluginState::Running);
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_plugins_is_honoured() {
    let setup = Setup::examples();
    let mut config = setup.config(false);
    config.max_plugins = 1;
    let manager = setup.start(config).await;
    let names: Vec<_> = manager.list().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["hello-grpc"], "folders load in path order");
    let diagnostics = manager.diagnostics();
    assert_eq!(diagnostics.len(), 1);
    assert!(
        diagnostics[0]
            .message
            .contains("plugin hello-wasm not loaded: max_plugins (1) reached"),
        "{diagnostics:?}"
    );
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unload_unregisters_drains_and_stops() {
    let setup = Setup::empty();
    raw_grpc(setup.plugins.path(), "raw", "raw");
    let manager = setup.start(setup.config(false)).await;
    let pid = call(&manager, "raw", "pid", "null").await.as_u64().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    // A call in flight finishes across the unload.
    let slow = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.call("raw", "sleep", &raw("300")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    manager.unload("raw").await.unwrap();
    slow.await.unwrap().unwrap();
    assert!(manager.get("raw").is_none());
    assert!(manager.registries().modules.module_names().is_empty());
    let err = manager.call("raw", "pid", &raw("null")).await.unwrap_err();
    assert!(matches!(err, ManagerError::NotFound(_)), "{err}");
    wait_for("the process to go", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reload_by_api_loses_no_call_in_either_runtime() {
    let setup = Setup::examples();
    let manager = setup.start(setup.config(false)).await;
    for plugin in ["hello-wasm", "hello-grpc"] {
        let callers = Callers::start(&manager, plugin, 8);
        for n in 2..=4 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            set_manifest_field(&setup.dir(plugin), "version", &format!("0.{n}.0"));
            let reloaded = manager.reload(plugin).await.unwrap();
            assert_eq!(reloaded.version, format!("0.{n}.0"));
            assert_eq!(reloaded.generation, n);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let calls = callers.finish().await;
        eprintln!("{plugin}: {calls} calls across 3 reloads, none failed");
    }
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_reload_follows_file_changes_without_losing_calls() {
    let setup = Setup::examples();
    let manager = setup.start(setup.config(true)).await;
    let callers = Callers::start(&manager, "hello-wasm", 8);

    // A new build of the module.
    let module = setup.dir("hello-wasm").join("hello_wasm.wasm");
    let bytes = std::fs::read(&module).unwrap();
    replace(&module, &retagged(&bytes, "build-2"));
    wait_for("the new module to be swapped in", || {
        status(&manager, "hello-wasm").generation == 2
    })
    .await;

    // An edited manifest.
    set_manifest_field(&setup.dir("hello-wasm"), "version", "0.2.0");
    wait_for("the edited manifest to be swapped in", || {
        status(&manager, "hello-wasm").version == "0.2.0"
    })
    .await;
    callers.finish().await;

    // A gRPC plugin's new binary.
    let grpc_binary = setup.dir("hello-grpc").join("hello-grpc");
    let mut bytes = std::fs::read(&grpc_binary).unwrap();
    bytes.extend_from_slice(b"trailing bytes: a new build");
    replace(&grpc_binary, &bytes);
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&grpc_binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    wait_for("the new binary to be swapped in", || {
        status(&manager, "hello-grpc").generation == 2
    })
    .await;
    let greeting = call(&manager, "hello-grpc", "greet", r#"{"name":"Di"}"#).await;
    assert_eq!(greeting["text"], "Hello, Di!");

    // A plugin folder that appears, then goes.
    copy_example("hello-wasm", setup.plugins.path(), "late");
    set_manifest_field(&setup.dir("late"), "name", "late-wasm");
    let late_manifest = setup.dir("late").join("plugin.yaml");
    let text = std::fs::read_to_string(&late_manifest).unwrap();
    let text = text.replace("capability: greeting\n", "capability: greeting-late\n");
    replace(&late_manifest, text.as_bytes());
    wait_for("the new plugin to run", || {
        manager
            .get("late-wasm")
            .is_some_and(|p| p.state == PluginState::Running)
    })
    .await;
    std::fs::remove_dir_all(setup.dir("late")).unwrap();
    wait_for("the removed plugin to be unloaded", || {
        manager.get("late-wasm").is_none()
    })
    .await;
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_reload_keeps_the_old_version_serving() {
    let setup = Setup::examples();
    let manager = setup.start(setup.config(true)).await;
    let callers = Callers::start(&manager, "hello-wasm", 4);

    // A module that is wasm in name only: the watcher tries it...
    let module = setup.dir("hello-wasm").join("hello_wasm.wasm");
    let good = std::fs::read(&module).unwrap();
    replace(&module, b"\0asm\x01\0\0\0 this is not a module");
    wait_for("the failure to be recorded", || {
        status(&manager, "hello-wasm")
            .last_error
            .is_some_and(|e| e.contains("reload failed, the previous version keeps serving"))
    })
    .await;
    // ...and so does the API.
    let err = manager.reload("hello-wasm").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("plugin hello-wasm: invalid module"),
        "{err}"
    );
    let now = status(&manager, "hello-wasm");
    assert_eq!((now.state, now.generation), (PluginState::Running, 1));

    // A manifest that no longer parses: a diagnostic, the old one serves.
    let manifest = setup.dir("hello-wasm").join("plugin.yaml");
    let good_manifest = std::fs::read(&manifest).unwrap();
    replace(&manifest, b"name: hello-wasm\nruntime: [wasm\n");
    wait_for("the broken manifest to be noticed", || {
        status(&manager, "hello-wasm")
            .last_error
            .is_some_and(|e| e.contains("new version not loaded"))
    })
    .await;
    assert!(!manager.diagnostics().is_empty());
    callers.finish().await;

    // Fixing it loads the fixed version.
    replace(&module, &good);
    replace(&manifest, &good_manifest);
    set_manifest_field(&setup.dir("hello-wasm"), "version", "0.3.0");
    wait_for("the fixed version to be swapped in", || {
        status(&manager, "hello-wasm").version == "0.3.0"
    })
    .await;
    let now = status(&manager, "hello-wasm");
    assert_eq!((now.generation, now.last_error), (2, None));
    assert!(
        manager.diagnostics().is_empty(),
        "{:?}",
        manager.diagnostics()
    );
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_grpc_plugin_is_restarted() {
    let setup = Setup::empty();
    raw_grpc(setup.plugins.path(), "raw", "raw");
    let manager = setup.start(setup.config(false)).await;
    let first = call(&manager, "raw", "pid", "null").await.as_u64().unwrap();

    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_for("the restart", || {
        let now = status(&manager, "raw");
        now.restarts == 1 && now.state == PluginState::Running
    })
    .await;
    let second = call(&manager, "raw", "pid", "null").await.as_u64().unwrap();
    assert_ne!(first, second);

    // A crash in the middle of a call: that call fails, the next ones work.
    let err = manager
        .call("raw", "crash", &raw("null"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("exited"), "{err}");
    wait_for("the second restart", || {
        status(&manager, "raw").restarts == 2
    })
    .await;
    call(&manager, "raw", "pid", "null").await;
    manager.shutdown().await;
    wait_for("the process to go", || {
        !Path::new(&format!("/proc/{second}")).exists()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kv_values_survive_a_restart_of_the_host() {
    let setup = Setup::examples();
    for round in 1..=2u64 {
        let manager = setup.start(setup.config(false)).await;
        for plugin in ["hello-wasm", "hello-grpc"] {
            let greeting = call(&manager, plugin, "greet", r#"{"name":"Eli"}"#).await;
            assert_eq!(greeting["total"], round, "{plugin} round {round}");
        }
        manager.shutdown().await;
        drop(manager); // releases the database for the next host
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_is_polled() {
    let setup = Setup::examples();
    let manager = setup.start(setup.config(false)).await;
    wait_for("a health poll", || {
        manager.list().iter().all(|p| p.ready == Some(true))
    })
    .await;
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_taken_ability_fails_that_plugin_and_registers_none_of_it() {
    let setup = Setup::empty();
    copy_example("hello-wasm", setup.plugins.path(), "a-hello");
    // Another name, the same ability operation.
    let copycat = copy_example("hello-wasm", setup.plugins.path(), "b-copycat");
    set_manifest_field(&copycat, "name", "copycat");
    let manager = setup.start(setup.config(false)).await;
    // The copycat's module was registered before the conflict and removed
    // again.
    assert_ability_kept(&manager, "hello-wasm", "copycat");
    manager.shutdown().await;
}

/// `holder` runs and alone is registered; `refused` failed over
/// greeting/greet, its error naming the holder.
fn assert_ability_kept(manager: &PluginManager, holder: &str, refused: &str) {
    assert_eq!(status(manager, holder).state, PluginState::Running);
    let refused = status(manager, refused);
    assert_eq!(refused.state, PluginState::Error);
    let error = refused.last_error.unwrap();
    assert!(
        error.contains("greeting/greet") && error.contains(holder),
        "{error}"
    );
    assert_eq!(manager.registries().modules.module_names(), [holder]);
}

/// Runners start concurrently, but adapters are registered in discovery
/// order: the first folder keeps the ability even when it is the slower one
/// to start (here a process against an in-process module).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_contested_ability_goes_to_the_first_folder_not_the_fastest_start() {
    let setup = Setup::empty();
    let remote = copy_example("hello-grpc", setup.plugins.path(), "a-remote");
    let manifest = remote.join("plugin.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("[greet_remote]"));
    replace(
        &manifest,
        text.replace("[greet_remote]", "[greet]").as_bytes(),
    );
    copy_example("hello-wasm", setup.plugins.path(), "b-hello");
    let manager = setup.start(setup.config(false)).await;
    assert_ability_kept(&manager, "hello-grpc", "hello-wasm");
    manager.shutdown().await;
}

/// `grpc.timeouts` is the plugin's own: its calls end at its call timeout,
/// and a call timeout past the host's `timeout` grant is refused at load,
/// naming the field and the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grpc_plugins_own_timeouts_hold_within_the_hosts_ceiling() {
    let setup = Setup::empty();
    let dir = raw_grpc(setup.plugins.path(), "raw", "raw");
    let manifest = dir.join("plugin.yaml");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{yaml}  timeouts: {{call: 300ms, shutdown: 1s}}\n"),
    )
    .unwrap();
    let manager = setup.start(setup.config(false)).await;
    assert_eq!(call(&manager, "raw", "sleep", "10").await, json!("slept"));
    let err = manager
        .call("raw", "sleep", &raw("5000"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin raw: call sleep: timed out after 300ms"
    );
    manager.shutdown().await;
    drop(manager); // it holds the data folder's KV store

    // The host grants calls of at most 200ms.
    let mut config = setup.config(false);
    config.permissions.default.timeout = Some(Duration::from_millis(200));
    let manager = setup.start(config).await;
    let status = status(&manager, "raw");
    assert_eq!(status.state, PluginState::Error);
    let why = status.last_error.unwrap();
    assert!(
        why.contains("grpc.timeouts.call")
            && why.contains("300ms")
            && why.contains("plugins.permissions.plugins.raw.timeout"),
        "{why}"
    );
    manager.shutdown().await;
}
