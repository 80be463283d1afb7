//! The hostile suite: a plugin process (`raw-grpc-plugin`, by hand, no SDK)
//! tries what a malicious plugin would, each in its own test, and the
//! kernel refuses it inside the plugin (or ends only that plugin), while
//! the host and the other plugins keep serving.
//!
//! Every test runs the plugin as the manager would: under
//! [`HostGrants`](plugin_core::HostGrants) with a data folder, and with the
//! confinement `strict`, so a mechanism this kernel lacks fails the test
//! instead of passing it unconfined.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/raw_plugin.rs"]
mod raw_plugin;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{HostGrants, MemoryHost, Runner, RunnerErrorKind};
use plugin_grpc::GrpcRunner;
use plugin_types::PermissionPolicy;
use raw_plugin::{RawPlugin, raw};
use serde_json::{Value, json};

/// A runner for `plugin` under `policy` (JSON; confinement made strict),
/// with the host's data in `data`.
fn confined(plugin: &RawPlugin, policy: &str, data: &Path) -> GrpcRunner {
    let mut policy: PermissionPolicy = serde_json::from_str(policy).unwrap();
    policy.confinement = plugin_types::permissions::Enforcement::Strict;
    let granted = HostGrants::new(policy)
        .with_data_dir(data)
        .grant(&plugin.manifest)
        .unwrap();
    GrpcRunner::new(Arc::new(MemoryHost::new(&plugin.manifest.name, json!({}))))
        .with_granted(granted)
        .with_start_timeout(Duration::from_secs(20))
}

async fn started(runner: &GrpcRunner, manifest: &plugin_core::Manifest) -> plugin_core::PluginInfo {
    let info = runner.load(manifest).await.unwrap();
    runner.start(&json!({})).await.unwrap();
    info
}

/// Calls `function` and reads its JSON answer.
async fn ask(runner: &GrpcRunner, function: &str, params: Value) -> Value {
    let out = runner.call(function, &raw(&params)).await.unwrap();
    serde_json::from_str(out.get()).unwrap()
}

/// The OS's error of a hostile attempt; panics if it succeeded.
fn refused(answer: &Value, what: &str) -> String {
    answer["err"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} succeeded: {answer}"))
        .to_owned()
}

/// Whether `err` is the kernel refusing a path: Landlock's `EACCES`, or
/// `ENOENT` where the private root has no such path, or `EROFS` where it
/// is mounted read-only.
fn denied(err: &str) -> bool {
    [
        "Permission denied",
        "No such file or directory",
        "Read-only file system",
    ]
    .iter()
    .any(|e| err.contains(e))
}

/// A second, well-behaved plugin, to show the others keep serving.
struct Bystander {
    _plugin: RawPlugin,
    _data: tempfile::TempDir,
    runner: GrpcRunner,
}

impl Bystander {
    async fn start() -> Self {
        let plugin = RawPlugin::with_yaml("bystander", "serve", "");
        let data = tempfile::tempdir().unwrap();
        let runner = confined(&plugin, "{}", data.path());
        started(&runner, &plugin.manifest).await;
        Self {
            _plugin: plugin,
            _data: data,
            runner,
        }
    }

    async fn still_serving(&self) {
        let echo = self.runner.call("echo", &raw(&json!("ok"))).await.unwrap();
        assert_eq!(echo.get(), r#""ok""#);
    }
}

/// A plugin process reaches only its own files: its folder, its data
/// folder, its temporary folder and what programs need; the kernel refuses
/// the rest, and the plugin keeps serving.
#[tokio::test]
async fn the_kernel_keeps_the_process_to_its_own_files() {
    let plugin = RawPlugin::new("serve");
    let host_data = tempfile::tempdir().unwrap();
    std::fs::write(host_data.path().join("kv.redb"), "the host's data").unwrap();
    let neighbour = tempfile::tempdir().unwrap();
    std::fs::write(neighbour.path().join("plugin.yaml"), "name: other").unwrap();
    let home = host_data.path().join("plugins/raw");
    let runner = confined(&plugin, "{}", host_data.path());
    started(&runner, &plugin.manifest).await;
    let fs = async |function: &str, params: Value| {
        let out = runner.call(function, &raw(&params)).await.unwrap();
        serde_json::from_str::<Value>(out.get()).unwrap()
    };
    let own = plugin.dir.path().join("plugin.yaml");
    assert!(
        fs("read", json!(own)).await["ok"].is_string(),
        "its own folder"
    );
    assert!(fs("read", json!("/etc/passwd")).await["ok"].is_string());
    // No /proc in its private root: not even its own.
    let status = fs("read", json!("/proc/self/status")).await;
    assert!(status["err"].is_string(), "{status}");
    let note = home.join("note.txt");
    assert_eq!(fs("write", json!([note, "kept"])).await["ok"], "");
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "kept");
    for path in [
        host_data.path().join("kv.redb"),
        neighbour.path().join("plugin.yaml"),
        "/root".into(),
        "/etc/shadow".into(),
        "/proc/1/environ".into(),
    ] {
        let read = fs("read", json!(path)).await;
        let err = read["err"]
            .as_str()
            .unwrap_or_else(|| panic!("{path:?} was read: {read}"));
        assert!(denied(err), "{path:?}: {err}");
    }
    let outside = neighbour.path().join("dropped.txt");
    let write = fs("write", json!([outside, "x"])).await;
    assert!(denied(write["err"].as_str().unwrap()), "{write}");
    assert!(!outside.exists());
    // Still serving.
    let echo = runner.call("echo", &raw(&json!(1))).await.unwrap();
    assert_eq!(echo.get(), "1");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// The plugin process gets none of the host's environment but `PATH`,
/// `LANG`, `LC_*`, `TZ` and its own `HOME` and `TMPDIR`; it cannot gain
/// privileges, dumps no core, and has a bounded number of open files.
#[tokio::test]
async fn the_process_gets_a_scrubbed_environment_and_limits() {
    // Set by cargo for this test process: a stand-in for the host's secrets.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let plugin = RawPlugin::with_yaml("raw", "serve", "  env: {RAW_GREETING: hi}\n");
    let data = tempfile::tempdir().unwrap();
    let home = data.path().join("plugins/raw");
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let env = async |name: &str| {
        let value = runner.call("env", &raw(&json!(name))).await.unwrap();
        serde_json::from_str::<Option<String>>(value.get()).unwrap()
    };
    assert_eq!(
        env("CARGO_MANIFEST_DIR").await,
        None,
        "a host variable leaked"
    );
    assert_eq!(env("CARGO").await, None);
    assert_eq!(env("RAW_GREETING").await.as_deref(), Some("hi"), "grpc.env");
    assert_eq!(env("PATH").await, std::env::var("PATH").ok());
    assert_eq!(env("HOME").await.as_deref(), Some(home.to_str().unwrap()));
    assert!(home.is_dir(), "HOME was created");
    let tmp = env("TMPDIR").await.unwrap();
    assert!(
        Path::new(&tmp).is_dir() && tmp.contains("flowbot-plugin-"),
        "{tmp}"
    );
    assert_eq!(
        env("FLOWBOT_PLUGIN").await.as_deref(),
        Some("flowbot-plugin-v1")
    );

    let limits = runner.call("limits", &raw(&json!(null))).await.unwrap();
    let limits: Value = serde_json::from_str(limits.get()).unwrap();
    assert_eq!(limits["no_new_privs"], true, "{limits}");
    assert_eq!(limits["core"], 0, "{limits}");
    assert!(limits["open_files"].as_u64().unwrap() <= 4096, "{limits}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
    let tmp_gone = !Path::new(&tmp).exists();
    assert!(tmp_gone, "TMPDIR outlived the plugin");
}

/// A plugin whose manifest asks for no network gets none: no TCP connect
/// (not even to the host's loopback), no TCP bind outside its go-plugin
/// port range, no UDP, no raw sockets. Asked and granted, one TCP port
/// opens, and only that one.
#[tokio::test]
async fn no_network_unless_asked_and_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bystander = Bystander::start().await;

    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    let info = started(&runner, &plugin.manifest).await;
    let network = info.confinement.unwrap().get("network").unwrap().clone();
    assert!(
        network.enforced && network.how.starts_with("none"),
        "{network}"
    );
    let err = refused(&ask(&runner, "connect", json!(address)).await, "connect");
    assert!(err.contains("Permission denied"), "{err}");
    let err = refused(&ask(&runner, "bind", json!("127.0.0.1:0")).await, "bind");
    assert!(err.contains("Permission denied"), "{err}");
    let err = refused(&ask(&runner, "udp", json!(address)).await, "udp");
    assert!(err.contains("Permission denied"), "{err}");
    let err = refused(&ask(&runner, "raw_socket", json!(null)).await, "raw socket");
    assert!(err.contains("Permission denied"), "{err}");
    bystander.still_serving().await;
    assert_eq!(
        runner.call("echo", &raw(&json!(1))).await.unwrap().get(),
        "1"
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();

    // Asked, but not granted: refused at load, naming the setting.
    let port = address.port();
    let asks = format!("  permissions:\n    network: {{connect: [{port}]}}\n");
    let plugin = RawPlugin::with_yaml("raw", "serve", &asks);
    let policy = PermissionPolicy::default();
    let err = HostGrants::new(policy)
        .grant(&plugin.manifest)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("grpc.permissions.network.connect[0]")
            && err.contains("plugins.permissions.plugins.raw.tcp_connect"),
        "{err}"
    );
    // Asked and granted: that port, nothing else.
    let policy = format!(r#"{{"plugins": {{"raw": {{"tcp_connect": [{port}]}}}}}}"#);
    let runner = confined(&plugin, &policy, data.path());
    started(&runner, &plugin.manifest).await;
    let accepted = std::thread::spawn(move || listener.accept().map(|_| ()));
    let ok = ask(&runner, "connect", json!(address)).await;
    assert_eq!(ok["ok"], json!(address.to_string()), "{ok}");
    accepted.join().unwrap().unwrap();
    let err = refused(
        &ask(&runner, "connect", json!(other.local_addr().unwrap())).await,
        "connect to another port",
    );
    assert!(err.contains("Permission denied"), "{err}");
    runner.stop(Duration::from_secs(1)).await.unwrap();
    bystander.still_serving().await;
}

/// A fork bomb stops at the plugin's process cap with the kernel's
/// `EAGAIN`; the plugin, the host and the other plugins keep serving.
#[tokio::test]
async fn a_fork_bomb_stops_at_the_process_cap() {
    let bystander = Bystander::start().await;
    let plugin = RawPlugin::with_yaml("raw", "serve", "  permissions: {processes: 64}\n");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    let info = started(&runner, &plugin.manifest).await;
    let processes = info.confinement.unwrap().get("processes").unwrap().clone();
    assert!(
        processes.enforced && processes.how.ends_with(" 64"),
        "{processes}"
    );

    let answer = ask(&runner, "fork", json!(10_000)).await;
    let err = refused(&answer, "forking 10,000 processes");
    assert!(err.contains("Resource temporarily unavailable"), "{err}");
    let started = answer["started"].as_u64().unwrap();
    assert!(started < 64, "{started} processes started");
    assert_eq!(
        runner.call("echo", &raw(&json!(2))).await.unwrap().get(),
        "2"
    );
    bystander.still_serving().await;
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// Memory past the cap ends the plugin (the OOM killer, in its own control
/// group) or fails its allocation (`RLIMIT_AS`), and nothing else: the
/// supervisor hears of the exit, the host and the other plugins serve on.
#[tokio::test]
async fn memory_past_the_cap_ends_only_that_plugin() {
    let bystander = Bystander::start().await;
    let plugin = RawPlugin::with_yaml("raw", "serve", "  permissions: {memory: {max: 64MiB}}\n");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    let mut exits = runner.exit_watch();
    let info = started(&runner, &plugin.manifest).await;
    let memory = info.confinement.unwrap().get("memory").unwrap().clone();
    assert!(
        memory.enforced && memory.how.ends_with(" 64MiB"),
        "{memory}"
    );

    let within = ask(&runner, "alloc", json!(16)).await;
    assert_eq!(within["ok"], 16, "{within}");
    let past = runner.call("alloc", &raw(&json!(256))).await;
    if memory.how.starts_with("cgroup") {
        let err = past.unwrap_err();
        let RunnerErrorKind::Exited(status) = err.kind() else {
            panic!("not an exit: {err}");
        };
        assert!(
            status.contains("signal 9 (SIGKILL): out of memory"),
            "{status}"
        );
        exits.wait_for(Option::is_some).await.unwrap();
        let exit = exits.borrow().clone().unwrap();
        assert!(
            !exit.expected && exit.status.contains("out of memory"),
            "{exit:?}"
        );
    } else {
        let answer: Value = serde_json::from_str(past.unwrap().get()).unwrap();
        assert!(answer["mib"].as_u64().unwrap() < 64, "{answer}");
    }
    bystander.still_serving().await;
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// A plugin cannot signal processes outside itself: not the host, though
/// it runs as the same user (as root, even).
#[tokio::test]
async fn the_plugin_cannot_signal_the_host() {
    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    started(&runner, &plugin.manifest).await;
    let host = std::process::id();
    let err = refused(
        &ask(&runner, "kill", json!(host)).await,
        "signalling the host",
    );
    assert!(err.contains("Operation not permitted"), "{err}");
    // Its own processes it may.
    let own = runner.process_id().unwrap();
    assert_eq!(ask(&runner, "kill", json!(own)).await["ok"], "alive");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// On this kernel (Landlock, seccomp, a control group) every measure is
/// enforced: the report says so, and a strict policy loads the plugin.
#[tokio::test]
async fn every_measure_is_enforced_on_this_kernel() {
    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let runner = confined(&plugin, "{}", data.path());
    let info = started(&runner, &plugin.manifest).await;
    let report = info.confinement.unwrap();
    let names: Vec<&str> = report.measures.iter().map(|m| m.what.as_str()).collect();
    assert_eq!(
        names,
        [
            "environment",
            "privileges",
            "files",
            "filesystem",
            "mounts",
            "network",
            "isolation",
            "memory",
            "processes"
        ]
    );
    let missing: Vec<String> = report.missing().map(ToString::to_string).collect();
    assert!(missing.is_empty(), "not enforced here: {missing:?}");
    assert!(
        report
            .get("filesystem")
            .unwrap()
            .how
            .starts_with("Landlock ABI")
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// The control: with the host's policy turning confinement off, the same
/// attempts succeed; so the refusals above are the confinement's doing.
#[tokio::test]
async fn with_confinement_off_the_same_attempts_succeed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let plugin = RawPlugin::new("serve");
    let data = tempfile::tempdir().unwrap();
    let secret = data.path().join("kv.redb");
    std::fs::write(&secret, "the host's data").unwrap();
    let policy = PermissionPolicy {
        confinement: plugin_types::permissions::Enforcement::Off,
        ..PermissionPolicy::default()
    };
    let granted = HostGrants::new(policy)
        .with_data_dir(data.path())
        .grant(&plugin.manifest)
        .unwrap();
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({})))).with_granted(granted);
    let info = started(&runner, &plugin.manifest).await;
    let report = info.confinement.unwrap();
    assert_eq!(
        report
            .missing()
            .map(|m| m.what.as_str())
            .collect::<Vec<_>>(),
        ["confinement"]
    );
    assert_eq!(
        ask(&runner, "read", json!(secret)).await["ok"],
        "the host's data"
    );
    let connected = ask(&runner, "connect", json!(address)).await;
    assert!(connected["ok"].is_string(), "{connected}");
    let host = std::process::id();
    assert_eq!(ask(&runner, "kill", json!(host)).await["ok"], "alive");
    // The environment is still scrubbed.
    let leaked = runner
        .call("env", &raw(&json!("CARGO_MANIFEST_DIR")))
        .await
        .unwrap();
    assert_eq!(leaked.get(), "null");
    runner.stop(Duration::from_secs(1)).await.unwrap();
}
