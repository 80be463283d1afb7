//! The gRPC runner against real plugin processes over real unix sockets:
//! `hello-grpc` (built with the SDK) and `raw-grpc-plugin` (the protocol by
//! hand, with hostile modes), both built by `cargo xtask examples`.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/raw_plugin.rs"]
mod raw_plugin;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plugin_core::{Condition, Manifest, MemoryHost, Runner, RunnerError, RunnerErrorKind};
use plugin_grpc::GrpcRunner;
use raw_plugin::{RawPlugin, eventually, is_running, processes_with, raw};
use serde_json::{Value, json};

fn hello_manifest() -> Manifest {
    examples::built();
    Manifest::from_file(&examples::workspace().join("examples/plugins/hello-grpc")).unwrap()
}

async fn started(runner: &GrpcRunner, manifest: &Manifest, config: Value) {
    runner.load(manifest).await.unwrap();
    runner.start(&config).await.unwrap();
}

fn kind(error: &RunnerError) -> &RunnerErrorKind {
    error.kind()
}

#[tokio::test]
async fn the_sdk_example_answers_every_function_and_calls_back_its_host() {
    let manifest = hello_manifest();
    let host = Arc::new(MemoryHost::new("hello-grpc", json!({"greeting": "Hi"})));
    let runner = GrpcRunner::new(host.clone());
    let info = runner.load(&manifest).await.unwrap();
    assert_eq!(info.name, "hello-grpc");
    let error = runner.call("help", &raw(&json!(null))).await.unwrap_err();
    assert!(
        matches!(kind(&error), RunnerErrorKind::NotStarted),
        "{error}"
    );
    runner.start(&json!({"greeting": "Hi"})).await.unwrap();

    // `Call` reaches the module's `call`; the module reads its config and
    // writes KV through HostService, and the host sees it.
    let answer = runner
        .call("greet", &raw(&json!({"name": "Ada"})))
        .await
        .unwrap();
    assert_eq!(answer.get(), r#"{"text":"Hi, Ada!","total":1}"#);
    assert_eq!(host.kv()["greetings"], b"1");
    let events = host.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "greeting.sent");
    assert_eq!(events[0].source, "hello-grpc");
    assert_eq!(events[0].entity_id, "Ada");
    assert_eq!(events[0].data["total"], 1);

    // The module reads back what it wrote (KV round trip through the host).
    let answer = runner
        .call(
            "command",
            &raw(&json!({"context": {"uid": "u1"}, "content": "count"})),
        )
        .await
        .unwrap();
    assert_eq!(
        answer.get(),
        r#"{"_type":"TextMsg","text":"1 greetings so far"}"#
    );
    let answer = runner
        .call(
            "ability_call",
            &raw(&json!({"operation": "greet_remote", "params": {"name": "Bo"}})),
        )
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(answer.get()).unwrap();
    assert_eq!(
        (answer["text"].as_str(), answer["data"]["total"].as_u64()),
        (Some("Hi, Bo!"), Some(2))
    );

    let help: Value =
        serde_json::from_str(runner.call("help", &raw(&json!(null))).await.unwrap().get()).unwrap();
    assert!(help["hello"].is_array());
    assert_eq!(
        runner
            .call("rules", &raw(&json!(null)))
            .await
            .unwrap()
            .get(),
        "[]"
    );
    assert_eq!(
        runner
            .call("bootstrap", &raw(&json!(null)))
            .await
            .unwrap()
            .get(),
        "null"
    );

    // What the module does not implement is "unsupported by plugin".
    for (function, params) in [
        ("form", json!({"values": {"a": "b"}})),
        ("input", json!({"content": "hi"})),
        ("webhook_convert", json!({"payload": "aGk="})),
        ("oauth_authorize", json!({"state": "s"})),
        ("oauth_callback", json!({"state": "s", "code": "c"})),
        ("no_such_function", json!({})),
    ] {
        let error = runner.call(function, &raw(&params)).await.unwrap_err();
        assert!(
            matches!(kind(&error), RunnerErrorKind::Unsupported),
            "{function}: {error}"
        );
        assert_eq!(
            error.to_string(),
            format!("plugin hello-grpc: call {function}: unsupported by plugin")
        );
    }
    // The module's own failure is the plugin's error.
    let error = runner
        .call("command", &raw(&json!({"content": "dance"})))
        .await
        .unwrap_err();
    assert!(matches!(kind(&error), RunnerErrorKind::Plugin(m) if m.contains("unknown command")));
    // Params of the wrong shape are refused before anything is sent.
    let error = runner
        .call("ability_call", &raw(&json!({"operation": 3})))
        .await
        .unwrap_err();
    assert!(matches!(kind(&error), RunnerErrorKind::Protocol(m) if m.contains("params")));

    let health = runner.health().await.unwrap();
    assert!(health.ready, "{health:?}");

    // Stop asks the SDK plugin to shut down: it exits cleanly, on its own.
    let events = runner.events();
    let pid = runner.process_id().unwrap();
    runner.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        events.current().condition,
        Condition::Exited {
            status: "exit status 0".into(),
            expected: true
        }
    );
    assert!(!is_running(pid));
    // Once `stop` returns, only this test and the runner itself hold the
    // host: the host service and its connections have all ended.
    assert_eq!(Arc::strong_count(&host), 2);
    let error = runner.call("help", &raw(&json!(null))).await.unwrap_err();
    assert!(
        matches!(kind(&error), RunnerErrorKind::NotLoaded),
        "{error}"
    );
}

#[tokio::test]
async fn a_plugin_written_without_the_sdk_loads_and_answers() {
    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    started(&runner, &plugin.manifest, json!({"answer": 42})).await;

    let echo = runner
        .call("echo", &raw(&json!({"a": [1, 2]})))
        .await
        .unwrap();
    assert_eq!(echo.get(), r#"{"a":[1,2]}"#);
    let config = runner.call("config", &raw(&json!(null))).await.unwrap();
    assert_eq!(config.get(), r#"{"answer":42}"#);
    // JSON values in params travel as JSON text and come back intact.
    let command = runner
        .call(
            "command",
            &raw(&json!({"context": {"uid": "u"}, "content": "hi"})),
        )
        .await
        .unwrap();
    assert_eq!(command.get(), r#"{"context":{"uid":"u"},"content":"hi"}"#);
    let url = runner
        .call("oauth_authorize", &raw(&json!({"state": "xyz"})))
        .await
        .unwrap();
    assert_eq!(url.get(), r#"{"url":"https://auth.example/?state=xyz"}"#);

    // Answers that are not JSON, and the plugin's error field, are errors.
    let error = runner.call("rules", &raw(&json!(null))).await.unwrap_err();
    assert!(
        matches!(kind(&error), RunnerErrorKind::Protocol(m) if m.contains("not JSON")),
        "{error}"
    );
    let error = runner.call("help", &raw(&json!(null))).await.unwrap_err();
    assert_eq!(error.to_string(), "plugin raw: call help: no help here");
    let error = runner.call("form", &raw(&json!({}))).await.unwrap_err();
    assert!(matches!(kind(&error), RunnerErrorKind::Unsupported));
    assert!(runner.health().await.unwrap().ready);
    runner.stop(Duration::from_secs(5)).await.unwrap();
    eventually("the raw plugin exits", || {
        processes_with(&plugin.marker()).is_empty()
    })
    .await;
}

/// A plugin that listens on TCP loads when its manifest says
/// `transport: tcp`. One that picks TCP unasked, with no network granted,
/// has a network namespace of its own the host cannot reach: refused,
/// naming the setting.
#[tokio::test]
async fn a_plugin_on_tcp_loads_too() {
    let plugin = RawPlugin::with_yaml("raw", "tcp", "  transport: tcp\n");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    started(&runner, &plugin.manifest, json!({})).await;
    let echo = runner.call("echo", &raw(&json!([1]))).await.unwrap();
    assert_eq!(echo.get(), "[1]");
    runner.stop(Duration::from_secs(1)).await.unwrap();

    let unasked = RawPlugin::new("tcp");
    let error = load_error(&unasked, quick_runner()).await;
    assert!(
        error.contains("bad handshake") && error.contains("set grpc.transport: tcp"),
        "{error}"
    );
}

#[tokio::test]
async fn a_failing_init_is_the_plugins_error() {
    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    runner.load(&plugin.manifest).await.unwrap();
    let error = runner.start(&json!({"fail_init": true})).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin raw: call init: refusing this config"
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_plugin_that_crashes_mid_call_is_noticed_at_once() {
    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    started(&runner, &plugin.manifest, json!({})).await;
    let mut events = runner.events();

    let error = runner.call("crash", &raw(&json!(null))).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin raw: call crash: exited (signal 6 (SIGABRT))"
    );
    // Later calls fail the same way, without waiting for a timeout.
    let error = runner.call("echo", &raw(&json!(1))).await.unwrap_err();
    assert!(
        matches!(kind(&error), RunnerErrorKind::Exited(_)),
        "{error}"
    );
    // Health says why.
    let health = runner.health().await.unwrap();
    assert!(!health.ready);
    assert_eq!(
        health.last_error.as_deref(),
        Some("plugin raw exited (signal 6 (SIGABRT))")
    );
    // The supervisor's notification: a crash, not a requested stop.
    let report = events
        .wait_for(|r| matches!(r.condition, Condition::Exited { .. }))
        .await
        .unwrap();
    assert_eq!(
        report.condition,
        Condition::Exited {
            status: "signal 6 (SIGABRT)".into(),
            expected: false
        }
    );
    assert_eq!(
        report.last_error.as_deref(),
        Some("plugin raw exited (signal 6 (SIGABRT))")
    );
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_hanging_call_times_out_and_the_plugin_keeps_serving() {
    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))))
        .with_call_timeout(Duration::from_millis(300));
    started(&runner, &plugin.manifest, json!({})).await;
    let error = runner.call("hang", &raw(&json!(null))).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "plugin raw: call hang: timed out after 300ms"
    );
    let echo = runner
        .call("echo", &raw(&json!("still here")))
        .await
        .unwrap();
    assert_eq!(echo.get(), r#""still here""#);
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn stop_drains_calls_in_flight_and_refuses_new_ones() {
    let plugin = RawPlugin::new("serve");
    let runner = Arc::new(GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({})))));
    started(&runner, &plugin.manifest, json!({})).await;
    let in_flight = {
        let runner = runner.clone();
        tokio::spawn(async move { runner.call("sleep", &raw(&json!(300))).await })
    };
    // Wait until the call is under way (the plugin is sleeping in it).
    tokio::time::sleep(Duration::from_millis(100)).await;
    runner.stop(Duration::from_secs(10)).await.unwrap();
    assert_eq!(in_flight.await.unwrap().unwrap().get(), r#""slept""#);
    let error = runner.call("echo", &raw(&json!(1))).await.unwrap_err();
    assert!(
        matches!(kind(&error), RunnerErrorKind::NotLoaded),
        "{error}"
    );
}

#[tokio::test]
async fn stop_leaves_no_process_behind_not_even_the_plugins_children() {
    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    started(&runner, &plugin.manifest, json!({})).await;
    let child: u32 = runner
        .call("spawn_child", &raw(&json!(null)))
        .await
        .unwrap()
        .get()
        .parse()
        .unwrap();
    let pid = runner.process_id().unwrap();
    assert!(is_running(pid) && is_running(child));
    runner.stop(Duration::from_secs(1)).await.unwrap();
    eventually("the plugin exits", || !is_running(pid)).await;
    eventually("the plugin's own child is killed with its group", || {
        !is_running(child)
    })
    .await;
}

#[tokio::test]
async fn dropping_a_runner_kills_its_plugin() {
    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    started(&runner, &plugin.manifest, json!({})).await;
    let pid = runner.process_id().unwrap();
    drop(runner);
    eventually("the plugin dies with its runner", || !is_running(pid)).await;
}

/// Not a test on its own: run by `a_killed_host_takes_its_plugins_with_it`
/// as a separate host process, which loads a plugin, prints its pid and
/// waits to be killed.
#[tokio::test]
async fn host_process_for_the_kill_test() {
    let Ok(dir) = std::env::var("GRPC_RUNNER_TEST_HOST") else {
        return;
    };
    let binary = examples::built().host.join("raw-grpc-plugin");
    let yaml = format!(
        "name: raw\nruntime: grpc\ngrpc:\n  binary: {}\n  args: [serve, {dir}]\n",
        binary.display()
    );
    std::fs::write(Path::new(&dir).join("plugin.yaml"), yaml).unwrap();
    let manifest = Manifest::from_file(Path::new(&dir)).unwrap();
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))));
    started(&runner, &manifest, json!({})).await;
    println!("PLUGIN_PID={}", runner.process_id().unwrap());
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

#[tokio::test]
async fn a_killed_host_takes_its_plugins_with_it() {
    examples::built();
    let dir = tempfile::tempdir().unwrap();
    let mut host = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "host_process_for_the_kill_test", "--nocapture"])
        .env("GRPC_RUNNER_TEST_HOST", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(host.stdout.take().unwrap());
    let pid: u32 = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("PLUGIN_PID=").map(|p| p.parse().unwrap()))
        .expect("the host process printed its plugin's pid");
    assert!(is_running(pid));
    host.kill().unwrap(); // SIGKILL: no destructor, no stop, nothing runs.
    host.wait().unwrap();
    eventually(
        "the plugin dies with its host (parent-death signal)",
        || !is_running(pid),
    )
    .await;
}

async fn load_error(plugin: &RawPlugin, runner: GrpcRunner) -> String {
    let error = runner.load(&plugin.manifest).await.unwrap_err();
    // Whatever went wrong, nothing is left running.
    eventually("a plugin that failed to load is killed", || {
        processes_with(&plugin.marker()).is_empty()
    })
    .await;
    error.to_string()
}

fn quick_runner() -> GrpcRunner {
    GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))))
        .with_start_timeout(Duration::from_millis(500))
}

#[tokio::test]
async fn handshake_failures_are_named_errors_quoting_the_plugin() {
    let cases = [
        (
            "junk",
            "plugin raw: bad handshake \"Starting up, please wait...\": not a go-plugin handshake line",
        ),
        (
            "silent",
            "plugin raw: no go-plugin handshake on stdout within 500ms",
        ),
        (
            "exit",
            "plugin raw: exited (exit status 3) before the go-plugin handshake",
        ),
        ("version", "plugin protocol version 7 (this host speaks 1)"),
        (
            "netrpc",
            "protocol \"netrpc\" is not supported; this host speaks grpc only",
        ),
    ];
    for (mode, expected) in cases {
        let plugin = RawPlugin::new(mode);
        let message = load_error(&plugin, quick_runner()).await;
        assert!(message.contains(expected), "{mode}: {message}");
        // Nothing on stderr, nothing pointing at the confinement.
        assert!(!message.contains("likely cause"), "{mode}: {message}");
    }
}

/// A plugin that dies before its handshake is quoted: its last lines on
/// stderr (20 at most), and, where the confinement likely refused it a
/// path, the grant that is missing.
#[tokio::test]
async fn a_plugin_that_exits_before_its_handshake_is_quoted_with_the_missing_grant() {
    let plugin = RawPlugin::new("stderr-exit");
    let message = load_error(&plugin, quick_runner()).await;
    assert!(
        message.starts_with("plugin raw: exited (exit status 1) before the go-plugin handshake; likely cause: /opt/raw-missing/lib/libx.so is outside the folders plugin raw may read, so the confinement hides it; the folder /opt/raw-missing/lib is not granted: ask for it in grpc.permissions.filesystem and grant it in plugins.permissions.plugins.raw.filesystem; its last lines on stderr:\n"),
        "{message}"
    );
    let quoted: Vec<&str> = message.lines().skip(1).map(str::trim).collect();
    let mut expected: Vec<String> = (11..30).map(|i| format!("line {i}")).collect();
    expected.push("cannot open '/opt/raw-missing/lib/libx.so': Permission denied".to_owned());
    assert_eq!(quoted, expected, "{message}");
}

#[tokio::test]
async fn a_plugin_not_serving_its_health_check_does_not_start() {
    // The check goes out at load, beside nothing; `start` awaits it beside
    // `Init`, and fails on it, then and every later time.
    let plugin = RawPlugin::new("unhealthy");
    let runner = quick_runner();
    runner.load(&plugin.manifest).await.unwrap();
    let expected = "plugin raw: health check of service \"plugin\" failed: status NOT_SERVING";
    for _ in 0..2 {
        let message = runner.start(&json!({})).await.unwrap_err().to_string();
        assert!(message.contains(expected), "{message}");
    }
    let err = runner.call("echo", &raw(&json!({}))).await.unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::NotStarted), "{err}");
    drop(runner);
    eventually(
        "an unhealthy plugin's process is killed with its runner",
        || processes_with(&plugin.marker()).is_empty(),
    )
    .await;
}

#[tokio::test]
async fn the_checksum_is_checked_before_anything_runs() {
    use sha2::Digest as _;
    let binary = examples::built().host.join("raw-grpc-plugin");
    let digest = sha2::Sha256::digest(std::fs::read(&binary).unwrap());
    let good = format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let plugin = RawPlugin::with_checksum("serve", Some(good));
    let runner = quick_runner();
    runner.load(&plugin.manifest).await.unwrap();
    runner.stop(Duration::from_secs(1)).await.unwrap();

    let bad = format!("sha256:{}", "0".repeat(64));
    let plugin = RawPlugin::with_checksum("serve", Some(bad));
    let message = load_error(&plugin, quick_runner()).await;
    assert!(
        message.contains("checksum mismatch: the manifest expects sha256:0000")
            && message.contains("not run"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_binary_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "name: ghost\nruntime: grpc\ngrpc: {binary: ./ghost}\n",
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    let error = quick_runner()
        .load(&manifest)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("plugin ghost: grpc.binary ") && error.contains("ghost: No such file"),
        "{error}"
    );
}

/// `grpc.binary` is a regular file within the host's `max_artifact_size`,
/// or it is neither read nor run: a symlink to `/dev/zero` (which a
/// checksum would read for ever), a FIFO (whose open would block) and a
/// binary over the limit are refused by name, quickly.
#[tokio::test]
async fn a_binary_that_is_no_regular_file_or_too_large_is_neither_read_nor_run() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("fifo"))
        .status();
    assert!(made.unwrap().success());
    let checksum = format!("sha256:{}", "0".repeat(64));
    for (binary, why) in [
        ("zero", "is a character device, not a regular file"),
        ("fifo", "is a FIFO, not a regular file"),
    ] {
        std::fs::write(
            dir.path().join("plugin.yaml"),
            format!(
                "name: odd\nruntime: grpc\ngrpc: {{binary: ./{binary}, checksum: \"{checksum}\"}}\n"
            ),
        )
        .unwrap();
        let manifest = Manifest::from_file(dir.path()).unwrap();
        let error = tokio::time::timeout(Duration::from_secs(10), quick_runner().load(&manifest))
            .await
            .expect("refused at once")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("plugin odd: grpc.binary ") && error.contains(why),
            "{error}"
        );
    }
    let plugin = RawPlugin::new("serve");
    let error = quick_runner()
        .with_max_artifact_size(plugin_core::ByteSize::kib(64))
        .load(&plugin.manifest)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("bytes, more than the 64KiB the host reads")
            && error.contains("plugins.permissions.plugins.raw.max_artifact_size"),
        "{error}"
    );
}

/// Whatever `source` a plugin process sends `EmitEvent`, the event carries
/// its plugin's name (set by the host in `plugin_core::Identified`).
#[tokio::test]
async fn a_process_cannot_emit_events_in_another_plugins_name() {
    // In the clear: the raw plugin dials its host's broker without TLS.
    let plugin = RawPlugin::with_yaml("raw", "broker", "  auto_mtls: false\n");
    let host = Arc::new(MemoryHost::new("raw", json!({})));
    let runner = GrpcRunner::new(host.clone());
    started(&runner, &plugin.manifest, json!({})).await;
    let payload = json!({"event_type": "forged", "source": "victim"});
    let answer = eventually_ok(&runner, &payload).await;
    assert_eq!(answer, json!({"ok": ""}));
    // The payload without a source, the request's `source` says "victim".
    let answer = eventually_ok(&runner, &json!({"event_type": "forged"})).await;
    assert_eq!(answer, json!({"ok": ""}));
    let sources: Vec<String> = host.events().into_iter().map(|e| e.source).collect();
    assert_eq!(sources, ["raw", "raw"]);
    runner.stop(Duration::from_secs(5)).await.unwrap();
}

/// Calls `emit` until the plugin has heard where the host service is (the
/// broker's announcement races the first call).
async fn eventually_ok(runner: &GrpcRunner, payload: &Value) -> Value {
    for _ in 0..100 {
        let answer = runner.call("emit", &raw(payload)).await.unwrap();
        let answer: Value = serde_json::from_str(answer.get()).unwrap();
        if answer != json!({"err": "no host broker"}) {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the plugin never heard of its host service");
}

/// Runs `command`, retrying while Linux says "text file busy": a process
/// forked elsewhere in this multi-threaded test binary can hold a
/// just-written executable open for writing until it execs itself
/// (rust-lang/rust#114554).
fn output_retrying_busy(command: &mut std::process::Command) -> std::process::Output {
    for _ in 0..20 {
        match command.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other.unwrap(),
        }
    }
    command.output().unwrap()
}

#[test]
fn run_by_hand_the_sdk_plugin_explains_itself_and_exits_1() {
    let binary: PathBuf = examples::workspace().join("examples/plugins/hello-grpc/hello-grpc");
    examples::built();
    for cookie in [None, Some("wrong")] {
        let mut command = std::process::Command::new(&binary);
        command.env_remove("FLOWBOT_PLUGIN");
        if let Some(cookie) = cookie {
            command.env("FLOWBOT_PLUGIN", cookie);
        }
        let output = output_retrying_busy(&mut command);
        assert_eq!(output.status.code(), Some(1), "{cookie:?}");
        assert!(output.stdout.is_empty(), "no handshake without the cookie");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not meant to be run directly"), "{stderr}");
    }
}

#[tokio::test]
async fn an_sdk_plugin_exits_when_its_host_goes_away() {
    // A host that sets no parent-death signal (a shell here) starts the
    // plugin and goes away; the SDK notices it was re-parented and exits.
    let binary = examples::workspace().join("examples/plugins/hello-grpc/hello-grpc");
    examples::built();
    let output = std::process::Command::new("sh")
        .args(["-c", "\"$0\" > /dev/null 2>&1 & echo $!; sleep 1"])
        .arg(&binary)
        .env("FLOWBOT_PLUGIN", "flowbot-plugin-v1")
        .output()
        .unwrap();
    let pid: u32 = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eventually("the orphaned SDK plugin exits by itself", || {
        !is_running(pid)
    })
    .await;
}

/// Messages are bounded: a call whose params are over the bound fails
/// before anything is sent, with a clear error, and the plugin keeps
/// serving. (The host service's side is tested in `src/broker.rs`.)
#[tokio::test]
async fn messages_over_the_bound_fail_that_call_only() {
    let plugin = RawPlugin::new("serve");
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("raw", json!({}))))
        .with_max_message_size(64 * 1024);
    started(&runner, &plugin.manifest, json!({})).await;
    let big = json!("x".repeat(100 * 1024));
    let error = runner.call("echo", &raw(&big)).await.unwrap_err();
    assert!(
        matches!(kind(&error), RunnerErrorKind::LimitExceeded(_)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("over the message limit of 65536 bytes"),
        "{error}"
    );
    // Just under the bound, both ways: fine.
    let echo = runner
        .call("echo", &raw(&json!("y".repeat(60 * 1024))))
        .await
        .unwrap();
    assert_eq!(echo.get().len(), 60 * 1024 + 2);
    let echo = runner.call("echo", &raw(&json!("small"))).await.unwrap();
    assert_eq!(echo.get(), r#""small""#);
    // An answer over the bound is refused from its length prefix, and the
    // connection carries on.
    let error = runner
        .call("big", &raw(&json!(100 * 1024)))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("message length too large"),
        "{error}"
    );
    let echo = runner.call("echo", &raw(&json!("after"))).await.unwrap();
    assert_eq!(echo.get(), r#""after""#);
    runner.stop(Duration::from_secs(1)).await.unwrap();
}

/// The SDK example with AutoMTLS, on by default over TCP and over a unix
/// socket: calls and host callbacks (KV, events) work through the pinned
/// TLS both ways.
#[tokio::test]
async fn the_sdk_example_speaks_automtls_over_tcp_and_unix() {
    use plugin_core::manifest::Transport;
    for transport in [Transport::Tcp, Transport::Unix] {
        let mut manifest = hello_manifest();
        let grpc = manifest.grpc.as_mut().unwrap();
        grpc.transport = transport;
        assert_eq!(grpc.auto_mtls, None);
        assert!(grpc.mtls());
        let host = Arc::new(MemoryHost::new("hello-grpc", json!({"greeting": "Hi"})));
        let runner = GrpcRunner::new(host.clone());
        started(&runner, &manifest, json!({"greeting": "Hi"})).await;
        let answer = runner
            .call("greet", &raw(&json!({"name": "Tls"})))
            .await
            .unwrap();
        assert_eq!(answer.get(), r#"{"text":"Hi, Tls!","total":1}"#);
        assert_eq!(host.kv()["greetings"], b"1", "{transport:?}: the callback");
        assert_eq!(host.events().len(), 1);
        runner.stop(Duration::from_secs(1)).await.unwrap();
    }
}

/// A plugin whose TLS certificate is not the one its handshake announced
/// is refused by name; so is one that ignores AutoMTLS when asked.
#[tokio::test]
async fn automtls_refuses_an_impostor_and_a_plugin_without_it() {
    let plugin = RawPlugin::with_yaml("impostor", "mtls-mismatch", "  auto_mtls: true\n");
    let error = load_error(&plugin, quick_runner()).await;
    assert!(
        error.starts_with("plugin impostor:")
            && error.contains("not the one announced (AutoMTLS pins it)"),
        "{error}"
    );
    let plugin = RawPlugin::with_yaml("plain", "no-mtls", "");
    let error = load_error(&plugin, quick_runner()).await;
    assert!(
        error.starts_with("plugin plain:") && error.contains("carries no certificate"),
        "{error}"
    );
}

/// A script whose `#!` interpreter lies outside what the plugin may see
/// cannot be started under the confinement: the error names the
/// interpreter's folder to grant.
#[tokio::test]
async fn a_script_whose_interpreter_is_hidden_is_told_which_folder_to_grant() {
    use std::os::unix::fs::PermissionsExt as _;
    let work = tempfile::tempdir().unwrap();
    let interpreter = work.path().join("interp/bin/sh");
    std::fs::create_dir_all(interpreter.parent().unwrap()).unwrap();
    std::fs::copy("/bin/sh", &interpreter).unwrap();
    let plugin = work.path().join("plugin");
    std::fs::create_dir_all(&plugin).unwrap();
    let script = plugin.join("run.sh");
    std::fs::write(&script, format!("#!{}\necho hi\n", interpreter.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        plugin.join("plugin.yaml"),
        "name: script\nruntime: grpc\ngrpc:\n  binary: run.sh\n  auto_mtls: false\n",
    )
    .unwrap();
    let manifest = Manifest::from_file(&plugin).unwrap();
    let error = quick_runner()
        .load(&manifest)
        .await
        .unwrap_err()
        .to_string();
    let expected = format!(
        "; likely cause: its #! interpreter {} is outside the folders plugin script may read, so the confinement hides it; the interpreter's folder {} is not granted: ask for it in grpc.permissions.filesystem and grant it in plugins.permissions.plugins.script.filesystem",
        interpreter.display(),
        work.path().join("interp").display()
    );
    assert!(
        error.starts_with("plugin script: cannot run ") && error.ends_with(&expected),
        "{error}"
    );
}
