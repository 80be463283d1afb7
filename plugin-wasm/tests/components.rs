//! The runner with components (WASI 0.2) of the `flowbot:plugin` world:
//! the `hello-component` example (Rust, `plugin-sdk`'s component side,
//! built for `wasm32-wasip2` by `cargo xtask examples`), and components
//! that do not fit the world, refused at load by name.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::Arc;

use plugin_core::{Manifest, MemoryHost, Runner, RunnerErrorKind};
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::{Value, json};

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;

use common::{call, raw};

#[tokio::test]
async fn the_component_example_greets_counts_and_emits() {
    examples::built();
    let manifest =
        Manifest::from_file(&examples::workspace().join("examples/plugins/hello-component"))
            .unwrap();
    let config = json!({"greeting": "Hi"});
    let host = Arc::new(MemoryHost::new("hello-component", config.clone()));
    let runner = WasmRunner::new(WasmEngine::new().unwrap(), host.clone());
    runner.load(&manifest).await.unwrap();
    runner.start(&config).await.unwrap();

    let greeting = call(&runner, "greet", json!({"name": "Ada"})).await;
    assert_eq!(greeting, json!({"text": "Hi, Ada!", "total": 1}));
    assert_eq!(host.kv()["greetings"], b"1");
    let events = host.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].source, "hello-component");
    assert_eq!(events[0].event_type, "greeting.sent");

    let help = call(&runner, "help", json!(null)).await;
    assert_eq!(help["hello"][0], "hello [name] - greets you");
    let count = call(&runner, "command", json!({"content": "count"})).await;
    assert_eq!(count["text"], "1 greetings so far");
    let ability = call(
        &runner,
        "ability_call",
        json!({"operation": "greet_component", "params": {"name": "Bo"}}),
    )
    .await;
    assert_eq!(ability["text"], "Hi, Bo!");

    // What the component does not offer, and what it refuses.
    let missing = runner.call("nope", &raw(&json!(null))).await.unwrap_err();
    assert!(
        matches!(missing.kind(), RunnerErrorKind::Unsupported),
        "{missing}"
    );
    let refused = runner
        .call("command", &raw(&json!({"content": "dance"})))
        .await
        .unwrap_err();
    let RunnerErrorKind::Plugin(message) = refused.kind() else {
        panic!("{refused}");
    };
    assert!(message.contains("unknown command"), "{message}");
    // Bad params are the plugin's error, and the instance serves on.
    let bad = runner
        .call("greet", &raw(&json!({"name": 7})))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("invalid params"), "{bad}");
    assert_eq!(call(&runner, "greet", json!({})).await["total"], 3);
    assert!(runner.health().await.unwrap().ready);
    runner
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}

/// Installs `wat` (a component in text form) as plugin `odd` and loads it.
async fn load_error(wat: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wat::parse_str(wat).unwrap();
    std::fs::write(dir.path().join("odd.wasm"), bytes).unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "name: odd\nruntime: wasm\nwasm: {module: odd.wasm}\n",
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    let runner = WasmRunner::new(
        WasmEngine::new().unwrap(),
        Arc::new(MemoryHost::new("odd", json!({}))),
    );
    runner.load(&manifest).await.unwrap_err().to_string()
}

#[tokio::test]
async fn components_of_another_world_are_refused_naming_what_is_missing() {
    let error = load_error("(component)").await;
    assert!(
        error.starts_with("plugin odd:")
            && error.contains("does not export flowbot:plugin/guest@0.1.0"),
        "{error}"
    );
    let error = load_error(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $ci (instantiate $m))
            (func $f (canon lift (core func $ci "f")))
            (instance $i (export "is-ready" (func $f)))
            (export "flowbot:plugin/guest@0.2.0" (instance $i)))"#,
    )
    .await;
    assert!(
        error.contains(
            "exports flowbot:plugin/guest@0.2.0 but this host speaks flowbot:plugin/guest@0.1.0"
        ),
        "{error}"
    );
    // Importing what the host does not offer.
    let error = load_error(
        r#"(component (import "acme:secret/vault@1.0.0" (instance (export "open" (func)))))"#,
    )
    .await;
    assert!(error.contains("acme:secret/vault"), "{error}");
}

/// The hostile component in a plugin folder of its own, with `wasm` (the
/// rest of its manifest's `wasm:` section, indented four spaces) and a
/// loopback HTTP server it may not reach.
struct Hostile {
    runner: WasmRunner,
    host: Arc<MemoryHost>,
    dir: tempfile::TempDir,
}

impl Hostile {
    async fn start(permissions: &str) -> Self {
        Self::start_granted(permissions, "{}").await
    }

    /// Started with what the host's `policy` (JSON) grants.
    async fn start_granted(permissions: &str, policy: &str) -> Self {
        Self::start_pooled(permissions, policy, "{max_instances: 1}").await
    }

    /// Started with `pool` as its `wasm.pool` section.
    async fn start_pooled(permissions: &str, policy: &str, pool: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            examples::built().components.join("hostile_component.wasm"),
            dir.path().join("hostile.wasm"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("shelf")).unwrap();
        std::fs::write(dir.path().join("shelf/note.txt"), "granted").unwrap();
        std::fs::write(
            dir.path().join("plugin.yaml"),
            format!(
                "name: hostile\nruntime: wasm\nwasm:\n  module: hostile.wasm\n  permissions:\n    memory: {{max: 16MiB}}\n    execution: {{timeout: 1s}}\n    filesystem: [{{path: shelf}}]\n{permissions}  pool: {pool}\n"
            ),
        )
        .unwrap();
        let manifest = Manifest::from_file(dir.path()).unwrap();
        let policy: plugin_types::PermissionPolicy = serde_json::from_str(policy).unwrap();
        let granted = plugin_core::HostGrants::new(policy)
            .grant(&manifest)
            .unwrap();
        let host = Arc::new(MemoryHost::new("hostile", json!({})));
        let runner =
            WasmRunner::new(WasmEngine::new().unwrap(), host.clone()).with_granted(granted);
        runner.load(&manifest).await.unwrap();
        runner.start(&json!({})).await.unwrap();
        Self { runner, host, dir }
    }

    async fn fails(&self, function: &str, params: Value) -> plugin_core::RunnerError {
        self.runner
            .call(function, &raw(&params))
            .await
            .expect_err(function)
    }

    /// The next call runs on a fresh instance (the one that misbehaved was
    /// dropped, not reused).
    async fn fresh(&self) {
        assert_eq!(call(&self.runner, "count", json!(null)).await, 1);
    }
}

#[tokio::test]
async fn a_spinning_component_times_out_and_its_instance_is_dropped() {
    let hostile = Hostile::start("").await;
    assert_eq!(call(&hostile.runner, "count", json!(null)).await, 1);
    let err = hostile.fails("spin", json!(null)).await;
    assert!(matches!(err.kind(), RunnerErrorKind::Timeout(_)), "{err}");
    hostile.fresh().await;
}

#[tokio::test]
async fn a_trapping_component_fails_that_call_only() {
    let hostile = Hostile::start("").await;
    assert_eq!(call(&hostile.runner, "count", json!(null)).await, 1);
    let err = hostile.fails("trap", json!(null)).await;
    assert!(err.to_string().contains("guest trapped in trap"), "{err}");
    hostile.fresh().await;
}

#[tokio::test]
async fn a_result_that_is_not_json_fails_that_call_and_drops_the_instance() {
    let hostile = Hostile::start("").await;
    assert_eq!(call(&hostile.runner, "count", json!(null)).await, 1);
    let err = hostile.fails("not_json", json!(null)).await;
    assert!(
        matches!(err.kind(), RunnerErrorKind::Protocol(_))
            && err
                .to_string()
                .contains("the result of not_json is not JSON"),
        "{err}"
    );
    hostile.fresh().await;
}

#[tokio::test]
async fn a_component_past_its_memory_cap_is_stopped_there() {
    let hostile = Hostile::start("").await;
    assert_eq!(call(&hostile.runner, "hoard", json!(4)).await, 4);
    let err = hostile.fails("hoard", json!(64)).await;
    assert!(
        matches!(err.kind(), RunnerErrorKind::LimitExceeded(_))
            && err.to_string().contains("memory limit of 16MiB"),
        "{err}"
    );
    // A huge answer is bounded by the same cap.
    let answer = call(&hostile.runner, "huge", json!(1)).await;
    assert_eq!(answer.as_str().unwrap().len(), 1 << 20);
    let err = hostile.fails("huge", json!(32)).await;
    assert!(
        matches!(err.kind(), RunnerErrorKind::LimitExceeded(_)),
        "{err}"
    );
    hostile.fresh().await;
}

#[tokio::test]
async fn a_component_reaches_only_what_it_was_granted() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/", server.local_addr().unwrap().port());
    let hostile = Hostile::start("").await;
    // No HTTP asked: the host refuses before any connection, whether the
    // guest uses the world's `fetch` or `wasi:http`.
    let err = hostile.fails("fetch", json!(url)).await;
    assert!(err.to_string().contains("permission denied"), "{err}");
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let err = hostile.fails("wasi_fetch", json!(authority)).await;
    assert!(err.to_string().contains("HttpRequestDenied"), "{err}");
    // Files: its granted folder, nothing else.
    let note = call(&hostile.runner, "read", json!("shelf/note.txt")).await;
    assert_eq!(note, "granted");
    let outside = hostile.dir.path().join("plugin.yaml");
    let err = hostile.fails("read", json!(outside)).await;
    assert!(err.to_string().contains("plugin.yaml"), "{err}");
    let err = hostile.fails("read", json!("/etc/passwd")).await;
    assert!(err.to_string().contains("/etc/passwd"), "{err}");
}

/// `wasi:http` asked and granted reaches the host's HTTP service (which,
/// in this test's memory host, makes no requests and says so).
#[tokio::test]
async fn wasi_http_goes_through_the_hosts_http_service() {
    let hostile = Hostile::start("    http: [{host: api.example.com}]\n").await;
    let err = hostile
        .fails("wasi_fetch", json!("api.example.com/v1"))
        .await;
    assert!(
        err.to_string().contains("this host makes no HTTP requests"),
        "{err}"
    );
    let err = hostile
        .fails("wasi_fetch", json!("other.example.com/"))
        .await;
    assert!(err.to_string().contains("HttpRequestDenied"), "{err}");
}

/// A request body through `wasi:http` is capped at 16 MiB: past it the
/// request fails before the host's HTTP service sees it.
#[tokio::test]
async fn wasi_http_request_bodies_are_capped() {
    let hostile = Hostile::start("    http: [{host: api.example.com}]\n").await;
    let err = hostile
        .fails(
            "wasi_post",
            json!({"target": "api.example.com/up", "mib": 1}),
        )
        .await;
    assert!(
        err.to_string().contains("this host makes no HTTP requests"),
        "{err}"
    );
    let err = hostile
        .fails(
            "wasi_post",
            json!({"target": "api.example.com/up", "mib": 17}),
        )
        .await;
    assert!(
        err.to_string()
            .contains("request body: length limit exceeded"),
        "{err}"
    );
}

/// A loopback TCP server answering each line with `pong`; its port.
fn echo_server() -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_ok() {
                let _ = (&stream).write_all(b"pong\n");
            }
        }
    });
    port
}

/// `wasi:sockets` connects only where the manifest asked and the host
/// granted: the port (`tcp_connect`) and, for an address that is not
/// public, its network (`private_networks`).
#[tokio::test]
async fn wasi_sockets_connect_only_where_asked_and_granted() {
    let port = echo_server();
    let other = echo_server();
    let address = format!("127.0.0.1:{port}");
    // Nothing asked: no sockets.
    let hostile = Hostile::start("").await;
    let err = hostile.fails("connect", json!(address)).await;
    assert!(err.to_string().contains("Permission denied"), "{err}");

    let ask = format!("    network: {{connect: [{port}]}}\n");
    // The port granted, but not the loopback network.
    let policy = format!(r#"{{"plugins": {{"hostile": {{"tcp_connect": [{port}]}}}}}}"#);
    let hostile = Hostile::start_granted(&ask, &policy).await;
    let err = hostile.fails("connect", json!(address)).await;
    assert!(err.to_string().contains("Permission denied"), "{err}");

    // Port and network granted: it connects there, and only there.
    let policy = format!(
        r#"{{"plugins": {{"hostile": {{"tcp_connect": [{port}], "private_networks": ["127.0.0.0/8"]}}}}}}"#
    );
    let hostile = Hostile::start_granted(&ask, &policy).await;
    assert_eq!(
        call(&hostile.runner, "connect", json!(address)).await,
        "pong"
    );
    let err = hostile
        .fails("connect", json!(format!("127.0.0.1:{other}")))
        .await;
    assert!(err.to_string().contains("Permission denied"), "{err}");
}

/// A guest granted a connect port may make the implicit wildcard bind a
/// connect makes, and nothing of a server: binding any other address, a
/// listen (even after the wildcard bind) and so an accept are refused
/// `access-denied`, each at its own step. (`SocketRules::allows`: with
/// `TcpBind` allowed on any address, the loopback bind passes and this
/// fails.)
#[tokio::test]
async fn wasi_sockets_never_bind_listen_or_accept() {
    let port = echo_server();
    let ask = format!("    network: {{connect: [{port}]}}\n");
    let policy = format!(
        r#"{{"plugins": {{"hostile": {{"tcp_connect": [{port}], "private_networks": ["127.0.0.0/8", "::1/128"]}}}}}}"#
    );
    let hostile = Hostile::start_granted(&ask, &policy).await;
    assert_eq!(
        call(
            &hostile.runner,
            "connect",
            json!(format!("127.0.0.1:{port}"))
        )
        .await,
        "pong",
        "connecting where granted works"
    );
    for (address, step) in [
        (format!("127.0.0.1:{port}"), "bind"),
        ("127.0.0.1:0".to_owned(), "bind"),
        ("[::1]:0".to_owned(), "bind"),
        ("0.0.0.0:7".to_owned(), "bind"),
        // The wildcard bind a connect makes is allowed; listening is not.
        ("0.0.0.0:0".to_owned(), "listen"),
        ("[::]:0".to_owned(), "listen"),
    ] {
        let err = hostile.fails("listen", json!(address)).await;
        assert!(
            err.to_string().contains(&format!("{step}: access-denied")),
            "{address}: {err}"
        );
    }
}

/// Whatever `source` a component writes, the event carries its plugin's
/// name (set by the host in `plugin_core::Identified`).
#[tokio::test]
async fn a_component_cannot_emit_events_in_another_plugins_name() {
    let hostile = Hostile::start("").await;
    for source in ["victim", ""] {
        call(
            &hostile.runner,
            "emit",
            json!({"event_type": "forged", "source": source}),
        )
        .await;
    }
    let sources: Vec<String> = hostile
        .host
        .events()
        .into_iter()
        .map(|e| e.source)
        .collect();
    assert_eq!(sources, ["hostile", "hostile"]);
}

/// What bounds a component: it runs on the on-demand engine (no pooling
/// slots), so its pool (`max_instances`) bounds its instances, however
/// many callers and however they end, and each instance's store limiter
/// bounds its memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_never_has_more_instances_than_its_pool() {
    let hostile = Hostile::start_pooled("", "{}", "{max_instances: 2, wait_timeout: 100ms}").await;
    // One made at start; warming makes one more and no further.
    assert_eq!(hostile.runner.warm(10).await.unwrap(), 1);
    assert_eq!(hostile.runner.warm(10).await.unwrap(), 0);
    // Six callers at once, each spinning until its 1 s timeout: at most
    // two run at a time (those that got an instance time out, one wave of
    // two a second), the others fail "pool exhausted".
    let runner = Arc::new(hostile.runner);
    let began = std::time::Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let runner = runner.clone();
            tokio::spawn(async move { runner.call("spin", &raw(&json!(null))).await })
        })
        .collect();
    let mut timed_out = 0;
    let mut exhausted = 0;
    for call in calls {
        match call.await.unwrap().unwrap_err().kind() {
            RunnerErrorKind::Timeout(_) => timed_out += 1,
            RunnerErrorKind::PoolExhausted(_) => exhausted += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!(timed_out + exhausted, 6);
    assert!(timed_out >= 2 && exhausted >= 1, "{timed_out} {exhausted}");
    let waves = u32::try_from(timed_out).unwrap().div_ceil(2);
    assert!(
        began.elapsed() >= std::time::Duration::from_millis(900) * waves,
        "{timed_out} calls had an instance, never more than two at once"
    );
    // The spinning instances were dropped; new ones take their place, two
    // at most.
    assert_eq!(call(&runner, "count", json!(null)).await, 1);
    assert_eq!(runner.warm(10).await.unwrap(), 1);
}
