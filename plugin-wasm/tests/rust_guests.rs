//! The runner with guests written in Rust against `plugin-sdk`: the
//! `hello-wasm` example and the `fs-guest` test plugin, built for
//! `wasm32-wasip1` by this test (no `.wasm` is committed).

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::Path;
use std::sync::Arc;

use plugin_core::{HostGrants, Manifest, MemoryHost, Runner, RunnerErrorKind};
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[path = "../../test-support/examples.rs"]
mod examples;
use examples::workspace;

/// The folder of the built wasm guests.
fn guests() -> &'static Path {
    &examples::built().wasm
}

struct Plugin {
    runner: WasmRunner,
    host: Arc<MemoryHost>,
    dir: tempfile::TempDir,
    /// The host's data folder (the plugin's `$DATA` is `plugins/NAME` in it).
    data: tempfile::TempDir,
}

/// Installs `module` in a fresh plugin folder with `manifest` and starts it.
async fn start(module: &str, manifest: &str, config: Value) -> Plugin {
    start_with(module, manifest, config, |_| {}).await
}

/// Like [`start`], with `setup` run on the plugin folder before the start.
async fn start_with(
    module: &str,
    manifest: &str,
    config: Value,
    setup: impl FnOnce(&Path),
) -> Plugin {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(guests().join(module), dir.path().join(module)).unwrap();
    setup(dir.path());
    std::fs::write(dir.path().join("plugin.yaml"), manifest).unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    manifest.validate_config(&config).unwrap();
    let host = Arc::new(MemoryHost::new(&manifest.name, config.clone()));
    let data = tempfile::tempdir().unwrap();
    let granted = HostGrants::default()
        .with_data_dir(data.path())
        .grant(&manifest)
        .unwrap();
    let runner = WasmRunner::new(WasmEngine::new().unwrap(), host.clone()).with_granted(granted);
    runner.load(&manifest).await.unwrap();
    runner.start(&config).await.unwrap();
    Plugin {
        runner,
        host,
        dir,
        data,
    }
}

impl Plugin {
    async fn call(&self, function: &str, params: Value) -> Result<Value, plugin_core::RunnerError> {
        let params = RawValue::from_string(params.to_string()).unwrap();
        let out = self.runner.call(function, &params).await?;
        Ok(serde_json::from_str(out.get()).unwrap())
    }
}

async fn hello(config: Value) -> Plugin {
    let manifest =
        std::fs::read_to_string(workspace().join("examples/plugins/hello-wasm/plugin.yaml"))
            .unwrap();
    start("hello_wasm.wasm", &manifest, config).await
}

#[tokio::test]
async fn the_example_answers_with_config_kv_and_events() {
    let plugin = hello(json!({"greeting": "Bonjour"})).await;
    let help = plugin.call("help", json!(null)).await.unwrap();
    assert_eq!(help["hello"][0], "hello [name] - greets you");

    let first = plugin.call("greet", json!({"name": "Ada"})).await.unwrap();
    assert_eq!(first, json!({"text": "Bonjour, Ada!", "total": 1}));
    let second = plugin
        .call("command", json!({"content": "hello Grace"}))
        .await
        .unwrap();
    assert_eq!(second, json!({"text": "Bonjour, Grace!"}));
    let count = plugin
        .call("command", json!({"content": "count"}))
        .await
        .unwrap();
    assert_eq!(count, json!({"text": "2 greetings so far"}));
    assert_eq!(plugin.host.kv()["greetings"], b"2");

    let events = plugin.host.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].event_type, "greeting.sent");
    assert_eq!(events[0].source, "hello-wasm");
    assert_eq!(events[1].entity_id, "Grace");
    assert_eq!(events[1].data["total"], 2);

    let err = plugin
        .call("command", json!({"content": "dance"}))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::Plugin(_)), "{err}");
    assert!(
        err.to_string().contains("unknown command \"dance\""),
        "{err}"
    );
    let err = plugin.call("greet", json!({"name": 5})).await.unwrap_err();
    assert!(err.to_string().contains("invalid params"), "{err}");
    assert!(plugin.runner.health().await.unwrap().ready);
}

#[tokio::test]
async fn the_example_defaults_without_config() {
    let plugin = hello(json!({})).await;
    let out = plugin.call("greet", json!({})).await.unwrap();
    assert_eq!(out["text"], "Hello, world!");
}

const FS_MANIFEST: &str = "name: fs-guest
runtime: wasm
wasm:
  module: fs_guest.wasm
  permissions:
    memory: {max: 16MiB}
    filesystem:
      - {path: shelf, mode: read}
      - {path: $DATA, mode: readwrite}
      - {path: $DATA/desk, mode: readwrite}
";

fn stage_files(dir: &Path) {
    std::fs::create_dir(dir.join("shelf")).unwrap();
    std::fs::write(dir.join("shelf/book.txt"), "once upon a time").unwrap();
    std::fs::write(dir.join("secret.txt"), "do not read").unwrap();
}

#[tokio::test]
async fn filesystem_grants_hold() {
    let plugin = start_with("fs_guest.wasm", FS_MANIFEST, json!({}), stage_files).await;
    let file = |path: &str| json!({"path": path, "content": "ink"});

    assert_eq!(
        plugin
            .call("read_file", file("shelf/book.txt"))
            .await
            .unwrap(),
        "once upon a time"
    );
    let err = plugin
        .call("write_file", file("shelf/new.txt"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("write shelf/new.txt"),
        "read-only grant refused the write: {err}"
    );
    assert!(!plugin.dir.path().join("shelf/new.txt").exists());

    plugin
        .call("write_file", file("/data/desk/note.txt"))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(plugin.data.path().join("plugins/fs-guest/desk/note.txt")).unwrap(),
        "ink"
    );

    for outside in [
        "secret.txt",
        "shelf/../secret.txt",
        "/etc/passwd",
        "../secret.txt",
        "/data/desk/../../secret.txt",
        "/data/../secret.txt",
    ] {
        let err = plugin.call("read_file", file(outside)).await.unwrap_err();
        assert!(
            matches!(err.kind(), RunnerErrorKind::Plugin(_)),
            "{outside}: {err}"
        );
    }
}

/// A granted folder swapped for a symlink between instances: the guest
/// removes `$DATA/desk` through its `$DATA` preopen, leaves a symlink to the
/// root in its place and traps, so that the next call gets a fresh instance.
/// That instance's `/data/desk` is still the folder that was checked at
/// load (the handle opened then, never the path again): the host's files
/// stay out of reach.
#[tokio::test]
async fn a_granted_folder_swapped_for_a_symlink_stays_the_folder_checked() {
    let plugin = start_with("fs_guest.wasm", FS_MANIFEST, json!({}), stage_files).await;
    let secret = plugin.dir.path().join("secret.txt");
    let through_link = format!("/data/desk{}", secret.display());
    plugin
        .call(
            "write_file",
            json!({"path": "/data/desk/note.txt", "content": "ink"}),
        )
        .await
        .unwrap();
    plugin
        // `/data/./desk`: through the `/data` preopen (wasi-libc would
        // pick the `/data/desk` preopen itself for `/data/desk`).
        .call(
            "swap_for_link",
            json!({"path": "/data/./desk", "content": "../../../../../../../../../.."}),
        )
        .await
        .unwrap();
    let desk = plugin.data.path().join("plugins/fs-guest/desk");
    assert!(desk.is_symlink(), "the guest made its symlink");
    // A trap poisons the instance: the next call builds a fresh one.
    plugin.call("panic", json!("trap")).await.unwrap_err();
    let err = plugin
        .call("read_file", json!({"path": through_link}))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::Plugin(_)), "{err}");
    let err = plugin
        .call(
            "write_file",
            json!({"path": "/data/desk/escaped.txt", "content": "x"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::Plugin(_)), "{err}");
    assert!(!Path::new("/escaped.txt").exists());
}

#[tokio::test]
async fn a_missing_granted_folder_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        guests().join("fs_guest.wasm"),
        dir.path().join("fs_guest.wasm"),
    )
    .unwrap();
    std::fs::write(dir.path().join("plugin.yaml"), FS_MANIFEST).unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    let runner = WasmRunner::new(
        WasmEngine::new().unwrap(),
        Arc::new(MemoryHost::new("fs-guest", json!({}))),
    );
    let err = runner.load(&manifest).await.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::PermissionDenied(_)),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("plugin fs-guest: permission denied: wasm.permissions.filesystem[0].path asks for \"shelf\" (read)"),
        "{text}"
    );
    assert!(text.contains("cannot be used"), "{text}");
}

#[tokio::test]
async fn a_rust_memory_bomb_and_a_panic_fail_only_their_call() {
    let plugin = start("fs_guest.wasm", "name: fs-guest\nruntime: wasm\nwasm:\n  module: fs_guest.wasm\n  permissions: {memory: {max: 16MiB}}\n", json!({})).await;
    let err = plugin.call("hoard", json!(64)).await.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::LimitExceeded(_)),
        "{err}"
    );
    assert_eq!(
        plugin.call("hoard", json!(2)).await.unwrap(),
        json!(2 << 20)
    );

    let err = plugin.call("panic", json!("boom")).await.unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::Protocol(_)), "{err}");
    plugin.call("print", json!("still here")).await.unwrap();
}
