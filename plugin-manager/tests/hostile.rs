//! A hostile plugin author against the manager: manifests that ask for the
//! host's files, data and networks are refused at load, naming the field,
//! the value and the setting that would allow it; what the host grants
//! holds at run time; a call spinning past `drain_timeout` does not hold up
//! a reload. Every refusal leaves the other plugins serving.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_core::PluginState;
use plugin_manager::host::DefaultHost;
use plugin_manager::{PluginManager, PluginStatus};
use plugin_types::{PermissionPolicy, PluginConfig, SourceConfig};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tempfile::TempDir;

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;
use plugin_dirs::copy_example;

/// A plugins folder (holding hello-wasm, the bystander) and a data folder.
struct Setup {
    plugins: TempDir,
    data: TempDir,
}

impl Setup {
    fn new() -> Self {
        let setup = Self {
            plugins: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
        };
        copy_example("hello-wasm", setup.plugins.path(), "hello-wasm");
        setup
    }

    /// Adds the fs guest as plugin `name` asking for `filesystem` (YAML).
    fn fs_guest(&self, name: &str, permissions: &str) -> PathBuf {
        let dir = self.plugins.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            examples::built().wasm.join("fs_guest.wasm"),
            dir.join("fs_guest.wasm"),
        )
        .unwrap();
        std::fs::write(
            dir.join("plugin.yaml"),
            format!(
                "name: {name}\nruntime: wasm\nwasm:\n  module: fs_guest.wasm\n  permissions:\n{}",
                indent(permissions, 4)
            ),
        )
        .unwrap();
        dir
    }

    async fn start(&self, policy: &str) -> PluginManager {
        let config = PluginConfig {
            enabled: true,
            hot_reload: false,
            sources: vec![SourceConfig::local(self.plugins.path())],
            drain_timeout: Duration::from_millis(500),
            permissions: serde_saphyr::from_str::<PermissionPolicy>(policy).unwrap(),
            ..PluginConfig::default()
        };
        let host = DefaultHost::open(self.data.path()).unwrap();
        let manager = PluginManager::builder(config, Arc::new(host))
            .health_interval(Duration::ZERO)
            .data_dir(self.data.path())
            .wasm_cache_dir(self.data.path().join("wasm-cache"))
            .build();
        manager.start().await.unwrap();
        manager
    }
}

fn indent(text: &str, by: usize) -> String {
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(by)))
        .collect()
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

async fn call(manager: &PluginManager, plugin: &str, function: &str, params: Value) -> Value {
    let result = manager
        .call(plugin, function, &raw(&params.to_string()))
        .await;
    serde_json::from_str(result.unwrap().get()).unwrap()
}

fn status(manager: &PluginManager, plugin: &str) -> PluginStatus {
    manager.get(plugin).unwrap()
}

/// The plugin is in `error`, refused for asking `asked` at `field`, and the
/// error names `setting`; the bystander still answers.
async fn assert_refused(manager: &PluginManager, plugin: &str, field: &str, setting: &str) {
    let status = status(manager, plugin);
    assert_eq!(status.state, PluginState::Error, "{status:?}");
    let error = status.last_error.unwrap();
    assert!(error.contains("permission denied"), "{error}");
    assert!(error.contains(field), "{plugin}: no {field} in {error}");
    assert!(error.contains(setting), "{plugin}: no {setting} in {error}");
    let greeting = call(manager, "hello-wasm", "greet", json!({"name": "Ann"})).await;
    assert_eq!(greeting["text"], "Hello, Ann!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_asks_beyond_the_plugin_are_refused() {
    let setup = Setup::new();
    let fs = "wasm.permissions.filesystem[0].path";
    let grant = "plugins.permissions.plugins.";
    setup.fs_guest("root", "filesystem: [{path: /, mode: readwrite}]");
    setup.fs_guest("dotdot", "filesystem: [{path: ../../.., mode: read}]");
    setup.fs_guest("etc", "filesystem: [{path: /etc}]");
    let link = setup.fs_guest("link", "filesystem: [{path: conf}]");
    std::os::unix::fs::symlink("/etc", link.join("conf")).unwrap();
    let data = setup.data.path().display().to_string();
    setup.fs_guest("data", &format!("filesystem: [{{path: {data}}}]"));
    setup.fs_guest("kv", &format!("filesystem: [{{path: {data}/wasm-cache}}]"));
    setup.fs_guest("escape", "filesystem: [{path: $DATA/../..}]");
    setup.fs_guest("neighbour", "filesystem: [{path: $DATA/../hello-wasm}]");

    // Another plugin's data folder, there to be reached for.
    std::fs::create_dir_all(setup.data.path().join("plugins/hello-wasm")).unwrap();

    let manager = setup.start("{}").await;
    for plugin in ["root", "dotdot", "etc", "link"] {
        assert_refused(&manager, plugin, fs, &format!("{grant}{plugin}.filesystem")).await;
    }
    for plugin in ["data", "kv", "escape", "neighbour"] {
        assert_refused(&manager, plugin, fs, "the host's own data is never granted").await;
    }
    let error = status(&manager, "root").last_error.unwrap();
    assert!(
        error.contains(r#"asks for "/" (readwrite)"#),
        "the value asked is quoted: {error}"
    );
    let error = status(&manager, "link").last_error.unwrap();
    assert!(
        error.contains("/etc is outside the plugin's folder"),
        "{error}"
    );
    manager.shutdown().await;
}

/// A plugin never writes its own folder (its manifest and module): had it
/// `{path: ., mode: readwrite}`, it could rewrite its `name:` and come back
/// at the next reload as another plugin, with that plugin's grants, KV
/// namespace and data folder. Refused at load, whatever the policy says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_never_gets_to_write_its_own_folder() {
    let setup = Setup::new();
    setup.fs_guest("self", "filesystem: [{path: ., mode: readwrite}]");
    let plugins = setup.plugins.path().display().to_string();
    setup.fs_guest(
        "parent",
        &format!("filesystem: [{{path: {plugins}, mode: readwrite}}]"),
    );
    let manager = setup
        .start(&format!(
            "default: {{filesystem: [{{path: {plugins}, mode: readwrite}}]}}"
        ))
        .await;
    for plugin in ["self", "parent"] {
        assert_refused(
            &manager,
            plugin,
            "filesystem[0].path",
            "a plugin's own folder is never writable",
        )
        .await;
    }
    manager.shutdown().await;
}

/// Even a policy that grants `/` read-write never grants the host's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_own_data_is_never_granted() {
    let setup = Setup::new();
    let data = setup.data.path().display().to_string();
    setup.fs_guest("root", "filesystem: [{path: /, mode: readwrite}]");
    setup.fs_guest("data", &format!("filesystem: [{{path: {data}}}]"));
    setup.fs_guest(
        "cache",
        &format!("filesystem: [{{path: {data}/wasm-cache}}]"),
    );
    let manager = setup
        .start("default: {filesystem: [{path: /, mode: readwrite}]}")
        .await;
    for plugin in ["root", "data", "cache"] {
        assert_refused(&manager, plugin, "filesystem[0].path", "never granted").await;
    }
    manager.shutdown().await;
}

/// What the host grants holds: the plugin's own folder and data folder,
/// and a folder the policy grants read-only, is only read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_folders_are_visible_and_nothing_else() {
    let setup = Setup::new();
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("map.txt"), "the map").unwrap();
    let shared_path = shared.path().display().to_string();
    let dir = setup.fs_guest(
        "guest",
        &format!(
            "filesystem:\n  - {{path: $DATA, mode: readwrite}}\n  - {{path: {shared_path}}}\n  - {{path: ., mode: read}}"
        ),
    );
    // Asking more than the policy's read-only grant is refused.
    setup.fs_guest(
        "greedy",
        &format!("filesystem: [{{path: {shared_path}, mode: readwrite}}]"),
    );
    let policy = format!(
        "plugins:\n  guest: {{filesystem: [{{path: {shared_path}}}]}}\n  greedy: {{filesystem: [{{path: {shared_path}}}]}}"
    );
    let manager = setup.start(&policy).await;
    assert_refused(
        &manager,
        "greedy",
        "filesystem[0].path",
        "plugins.permissions.plugins.greedy.filesystem",
    )
    .await;
    assert!(
        status(&manager, "greedy")
            .last_error
            .unwrap()
            .contains("read only"),
    );

    let running = status(&manager, "guest");
    assert_eq!(running.state, PluginState::Running, "{running:?}");
    assert!(
        running
            .permissions
            .iter()
            .any(|p| p.starts_with("filesystem /data (readwrite, host ")),
        "{:?}",
        running.permissions
    );

    // The data folder: written by the guest as /data, kept on the host.
    call(
        &manager,
        "guest",
        "write_file",
        json!({"path": "/data/note.txt", "content": "kept"}),
    )
    .await;
    let kept = setup.data.path().join("plugins/guest/note.txt");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "kept");
    let read = call(
        &manager,
        "guest",
        "read_file",
        json!({"path": format!("{shared_path}/map.txt")}),
    )
    .await;
    assert_eq!(read, "the map");
    let written = manager
        .call(
            "guest",
            "write_file",
            &raw(&json!({"path": format!("{shared_path}/x"), "content": "no"}).to_string()),
        )
        .await;
    assert!(written.is_err(), "the read-only grant was written");
    // Neither the host's data nor other folders are visible.
    for path in [
        "/data/../kv.redb",
        "/data/../../kv.redb",
        "/etc/passwd",
        "../hello-wasm/plugin.yaml",
    ] {
        let result = manager
            .call(
                "guest",
                "read_file",
                &raw(&json!({"path": path}).to_string()),
            )
            .await;
        assert!(result.is_err(), "{path} was readable");
    }
    assert!(dir.join("fs_guest.wasm").exists());
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_hosts_beyond_the_policy_are_refused() {
    let setup = Setup::new();
    setup.fs_guest("hungry", "memory: {max: 512MiB}");
    setup.fs_guest("slow", "execution: {timeout: 10m}");
    setup.fs_guest(
        "chatty",
        "http: [{host: api.example.com}, {host: evil.example}]",
    );
    setup.fs_guest(
        "fine",
        "http: [{host: api.example.com}]\nmemory: {max: 32MiB}",
    );
    let manager = setup
        .start("default: {memory: 64MiB, timeout: 1m, http: [api.example.com]}")
        .await;
    assert_refused(
        &manager,
        "hungry",
        "wasm.permissions.memory.max asks for 512MiB",
        "plugins.permissions.plugins.hungry.memory",
    )
    .await;
    assert_refused(
        &manager,
        "slow",
        "wasm.permissions.execution.timeout asks for 10m",
        "plugins.permissions.plugins.slow.timeout",
    )
    .await;
    assert_refused(
        &manager,
        "chatty",
        "wasm.permissions.http[1] asks for evil.example",
        "plugins.permissions.plugins.chatty.http",
    )
    .await;
    let fine = status(&manager, "fine");
    assert_eq!(fine.state, PluginState::Running, "{fine:?}");
    assert!(
        fine.permissions
            .contains(&"http api.example.com".to_owned()),
        "{:?}",
        fine.permissions
    );
    manager.shutdown().await;
}

/// A reload while a call spins in a plugin whose execution timeout is 24
/// hours: the old version's call is cancelled at `drain_timeout`, fails
/// with a clear error, and the new version serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_does_not_wait_for_a_spinning_call_past_the_drain_timeout() {
    let setup = Setup::new();
    let dir = setup.plugins.path().join("spinner");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("guest.wat"),
        include_str!("../../plugin-wasm/tests/guests/abi.wat"),
    )
    .unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        "name: spinner\nruntime: wasm\nwasm:\n  module: guest.wat\n  permissions: {execution: {timeout: 24h}}\n",
    )
    .unwrap();
    let manager = setup.start("{}").await;
    assert_eq!(status(&manager, "spinner").state, PluginState::Running);

    let spinning = tokio::spawn({
        let manager = manager.clone();
        async move { manager.call("spinner", "spin", &raw("null")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = Instant::now();
    let reloaded = tokio::time::timeout(Duration::from_secs(20), manager.reload("spinner"))
        .await
        .expect("the reload waited for the spinning call")
        .unwrap();
    assert_eq!(reloaded.generation, 2);
    let took = began.elapsed();
    let err = tokio::time::timeout(Duration::from_secs(10), spinning)
        .await
        .expect("the spinning call was never cancelled")
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    assert!(
        took < Duration::from_secs(10),
        "the reload waited {took:?} for a call past its 500ms drain timeout"
    );
    let echoed = call(&manager, "spinner", "echo", json!([1])).await;
    assert_eq!(echoed, json!([1]));
    manager.shutdown().await;
}

/// `pluginctl validate` of the setup's plugins with `flag host_config`;
/// its stdout, once it has exited 1 (something is refused).
fn validate(setup: &Setup, flag: &str, host_config: &std::path::Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pluginctl"))
        .arg("validate")
        .arg(setup.plugins.path())
        .arg(flag)
        .arg(host_config)
        .arg("--data-dir")
        .arg(setup.data.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    stdout
}

/// `pluginctl validate --host-config` says what each plugin asks and gets,
/// and refuses what is not granted with the setting to change.
#[test]
fn pluginctl_validate_shows_asks_and_grants() {
    let setup = Setup::new();
    setup.fs_guest(
        "asker",
        "filesystem: [{path: $DATA, mode: readwrite}]\nhttp: [{host: api.example.com}]",
    );
    setup.fs_guest("root", "filesystem: [{path: /}]");
    let host_config = setup.data.path().join("host.yaml");
    std::fs::write(
        &host_config,
        "plugins:\n  permissions:\n    plugins: {asker: {private_networks: [10.0.0.0/8]}}\n",
    )
    .unwrap();
    let stdout = validate(&setup, "--host-config", &host_config);
    assert!(stdout.contains("ok asker"), "{stdout}");
    assert!(
        stdout.contains("grants filesystem /data (readwrite, host "),
        "{stdout}"
    );
    assert!(stdout.contains("grants http api.example.com"), "{stdout}");
    assert!(stdout.contains("grants network 10.0.0.0/8"), "{stdout}");
    assert!(
        stdout.contains("permission denied: wasm.permissions.filesystem[0].path asks for \"/\""),
        "{stdout}"
    );
    assert!(stdout.contains("ok hello-wasm"), "{stdout}");

    // The same host file through --config (a flowbot-style file with a
    // `plugins:` section): its permissions grant, and each plugin's own
    // `plugins.config` entry meets that plugin's schema.
    std::fs::write(
        &host_config,
        "plugins:\n  config: {hello-wasm: {greeting: ''}}\n  permissions:\n    plugins: {asker: {private_networks: [10.0.0.0/8]}}\n",
    )
    .unwrap();
    let stdout = validate(&setup, "--config", &host_config);
    assert!(stdout.contains("grants network 10.0.0.0/8"), "{stdout}");
    assert!(
        stdout.contains("permission denied: wasm.permissions.filesystem[0].path asks for \"/\""),
        "{stdout}"
    );
    let hello = stdout
        .lines()
        .find(|l| l.contains("plugin hello-wasm"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        hello.starts_with("error ") && hello.contains("/greeting"),
        "{hello}"
    );
}
