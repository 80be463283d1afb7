//! The wasm runner against real modules: a hand-written ABI guest with
//! hostile functions (`guests/abi.wat`) and small hostile modules.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use plugin_core::{
    HostApi, HostError, HostHttpRequest, HostHttpResponse, LogLevel, Manifest, MemoryHost, Runner,
    RunnerErrorKind,
};
use plugin_types::DataEvent;
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::value::RawValue;
use serde_json::{Value, json};

const ABI_GUEST: &str = include_str!("guests/abi.wat");

struct Plugin {
    runner: Arc<WasmRunner>,
    host: Arc<MemoryHost>,
    _dir: tempfile::TempDir,
}

/// Loads `wat` as plugin "guest" with extra `wasm:` settings, started with `config`.
async fn start(wat: &str, wasm_settings: &str, config: Value) -> Plugin {
    let (plugin, result) = start_result(wat, wasm_settings, config).await;
    result.unwrap();
    plugin
}

async fn start_result(
    wat: &str,
    wasm_settings: &str,
    config: Value,
) -> (Plugin, Result<(), plugin_core::RunnerError>) {
    start_on(|host| host, wat, wasm_settings, config).await
}

/// Like [`start_result`], with the runner reaching its host through `host_api`
/// (given the memory host the test can inspect).
async fn start_on(
    host_api: impl FnOnce(Arc<MemoryHost>) -> Arc<dyn HostApi>,
    wat: &str,
    wasm_settings: &str,
    config: Value,
) -> (Plugin, Result<(), plugin_core::RunnerError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guest.wat"), wat).unwrap();
    let indented: String = wasm_settings.lines().map(|l| format!("  {l}\n")).collect();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        format!("name: guest\nruntime: wasm\nwasm:\n  module: guest.wat\n{indented}"),
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    let host = Arc::new(MemoryHost::new("guest", config.clone()));
    let runner = Arc::new(WasmRunner::new(
        WasmEngine::new().unwrap(),
        host_api(host.clone()),
    ));
    runner.load(&manifest).await.unwrap();
    let result = runner.start(&config).await;
    (
        Plugin {
            runner,
            host,
            _dir: dir,
        },
        result,
    )
}

fn raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).unwrap()
}

impl Plugin {
    async fn call(&self, function: &str, params: &str) -> Result<Value, plugin_core::RunnerError> {
        let out = self.runner.call(function, &raw(params)).await?;
        Ok(serde_json::from_str(out.get()).unwrap())
    }

    async fn ok(&self, function: &str) -> Value {
        self.call(function, "{}")
            .await
            .unwrap_or_else(|e| panic!("{function}: {e}"))
    }
}

#[tokio::test]
async fn json_round_trips_through_the_guest() {
    let plugin = start(ABI_GUEST, "", json!({})).await;
    let params = r#"{"text":"héllo","n":[1,2,3]}"#;
    assert_eq!(
        plugin.call("echo", params).await.unwrap(),
        serde_json::from_str::<Value>(params).unwrap()
    );
    for _ in 0..3_000 {
        plugin.call("echo", r#""x""#).await.unwrap();
    }
    let err = plugin.call("fail", "{}").await.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::Plugin(m) if m == "nope"),
        "{err}"
    );
    assert_eq!(err.to_string(), "plugin guest: call fail: nope");
    // An error envelope does not poison the instance: the counter keeps going.
    assert_eq!(plugin.ok("calls").await, json!(1));
    assert_eq!(plugin.ok("calls").await, json!(2));
}

#[tokio::test]
async fn unknown_reserved_and_mistyped_functions() {
    let plugin = start(ABI_GUEST, "", json!({})).await;
    for name in ["nope", "alloc", "init", "memory", "is_ready", "_start"] {
        let err = plugin.call(name, "{}").await.unwrap_err();
        assert!(
            matches!(err.kind(), RunnerErrorKind::Unsupported),
            "{name}: {err}"
        );
    }
    let err = plugin.call("wrong_type", "{}").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("is not a function (i32, i32) -> i64"),
        "{err}"
    );
    assert_eq!(plugin.ok("calls").await, json!(1));
}

#[tokio::test]
async fn every_instance_is_initialised_now_or_later() {
    let config = json!({"greeting": "bonjour"});
    let config_len = config.to_string().len();
    let plugin = start(ABI_GUEST, "", config).await;
    assert_eq!(plugin.ok("config_len").await, json!(config_len));
    // A trap discards the instance; the next one is created and initialised.
    assert!(plugin.call("trap", "{}").await.is_err());
    assert_eq!(plugin.ok("calls").await, json!(1), "a fresh instance");
    assert_eq!(plugin.ok("config_len").await, json!(config_len));
    assert_eq!(plugin.ok("greeting").await, json!("bonjour"));
}

/// A host whose HTTP requests never complete (a remote that accepts and
/// never answers); everything else is the memory host's.
struct StalledHttp(Arc<MemoryHost>);

#[async_trait]
impl HostApi for StalledHttp {
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError> {
        self.0.get_config(key).await
    }
    fn log(
        &self,
        level: LogLevel,
        message: &str,
        fields: &std::collections::BTreeMap<String, String>,
    ) {
        self.0.log(level, message, fields);
    }
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.0.kv_get(key).await
    }
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.0.kv_set(key, value).await
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.0.kv_delete(key).await
    }
    async fn http_request(&self, _: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        std::future::pending().await
    }
    async fn emit_event(&self, event: DataEvent) -> Result<(), HostError> {
        self.0.emit_event(event).await
    }
}

#[tokio::test]
async fn a_host_call_that_never_ends_is_bounded_by_the_timeout() {
    let (plugin, started) = start_on(
        |host| Arc::new(StalledHttp(host)),
        ABI_GUEST,
        "permissions: {execution: {timeout: 300ms}, http: [{host: api.example.com}]}",
        json!({}),
    )
    .await;
    started.unwrap();
    let request = r#"{"method": "GET", "url": "https://api.example.com/"}"#;
    let err = tokio::time::timeout(Duration::from_secs(10), plugin.call("http", request))
        .await
        .expect("the call must end at its timeout, not hang with the host")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin guest: call http: timed out after 300ms"
    );
    // The instance was abandoned mid-call; the next call gets a fresh one.
    assert_eq!(plugin.call("echo", "7").await.unwrap(), json!(7));
}

#[tokio::test]
async fn an_infinite_loop_is_interrupted_by_the_timeout() {
    let plugin = start(
        ABI_GUEST,
        "permissions: {execution: {timeout: 300ms}}",
        json!({}),
    )
    .await;
    let started = Instant::now();
    let err = plugin.call("spin", "{}").await.unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::Timeout(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "plugin guest: call spin: timed out after 300ms"
    );
    // Generous bound: the point is that the loop was stopped at all.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        plugin.ok("calls").await,
        json!(1),
        "the spinning instance was discarded"
    );
    let health = plugin.runner.health().await.unwrap();
    assert!(health.ready);
    assert!(health.last_error.unwrap().contains("timed out"));
}

#[tokio::test]
async fn memory_cannot_grow_past_the_limit() {
    let plugin = start(ABI_GUEST, "permissions: {memory: {max: 1MiB}}", json!({})).await;
    let err = plugin.call("grow", "{}").await.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::LimitExceeded(_)),
        "{err}"
    );
    assert!(
        err.to_string().contains("memory limit of 1MiB reached"),
        "{err}"
    );
    assert_eq!(plugin.ok("calls").await, json!(1));

    // A module whose initial memory is over the limit cannot even start.
    let big = ABI_GUEST.replace(
        "(memory (export \"memory\") 4)",
        "(memory (export \"memory\") 64)",
    );
    let (_, result) = start_result(&big, "permissions: {memory: {max: 1MiB}}", json!({})).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::LimitExceeded(_)),
        "{err}"
    );
}

#[tokio::test]
async fn broken_results_fail_that_call_only() {
    let plugin = start(ABI_GUEST, "", json!({})).await;
    for (function, expect) in [
        ("bad_pointer", "result pointer"),
        ("huge_length", "result pointer"),
        ("garbage", "malformed result envelope"),
        ("trap", "guest trapped in trap"),
    ] {
        plugin.ok("calls").await;
        let err = plugin.call(function, "{}").await.unwrap_err();
        assert!(
            matches!(err.kind(), RunnerErrorKind::Protocol(_)),
            "{function}: {err}"
        );
        assert!(err.to_string().contains(expect), "{function}: {err}");
        assert_eq!(
            plugin.ok("calls").await,
            json!(1),
            "{function}: instance was not reused"
        );
    }
}

/// A guest whose `alloc` and `free` misbehave on cue: `alloc` of 5 bytes
/// traps, of 6 bytes returns a pointer past its memory; `free` traps.
const HOSTILE_ALLOC_FREE: &str = r#"(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{}")
  (func (export "alloc") (param $n i32) (result i32)
    (if (i32.eq (local.get $n) (i32.const 5)) (then unreachable))
    (if (i32.eq (local.get $n) (i32.const 6)) (then (return (i32.const -16))))
    (i32.const 1024))
  (func (export "free") (param i32)
    unreachable)
  (func (export "empty") (param i32 i32) (result i64)
    (i64.const 0))
  (func (export "ok") (param i32 i32) (result i64)
    (i64.const 0x100000002)))"#;

/// A guest whose `alloc` calls `kv_get` itself: were the host to serve
/// that, writing each answer would call `alloc` again, without end.
/// `seven` answers 7 when the call made at most two `alloc`s, else 0.
const REENTRANT_ALLOC: &str = r#"(module
  (import "flowbot" "kv_get" (func $kv_get (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (global $allocs (mut i32) (i32.const 0))
  (data (i32.const 0) "k")
  (data (i32.const 16) "{\"data\":7}")
  (data (i32.const 32) "{\"data\":0}")
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (drop (call $kv_get (i32.const 0) (i32.const 1)))
    (if (i32.gt_u (i32.add (global.get $bump) (local.get $n)) (i32.const 60000))
      (then (global.set $bump (i32.const 1024))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func (export "seven") (param i32 i32) (result i64)
    (local $allocs i32)
    (local.set $allocs (global.get $allocs))
    (global.set $allocs (i32.const 0))
    (if (result i64) (i32.le_u (local.get $allocs) (i32.const 2))
      (then (i64.const 0x100000000a))
      (else (i64.const 0x200000000a)))))"#;

#[tokio::test]
async fn host_and_guest_calls_nest_one_level_at_most() {
    let plugin = start(
        REENTRANT_ALLOC,
        "permissions: {execution: {timeout: 20s}}",
        json!({}),
    )
    .await;
    plugin.host.kv_set("k", b"value").await.unwrap();
    // The params' `alloc` asks for "k"; writing the answer calls `alloc`,
    // whose own `kv_get` is refused (it traps that inner `alloc`, and the
    // outer `kv_get` answers "failed"). The call ends at once rather than
    // nesting until its timeout.
    for _ in 0..3 {
        assert_eq!(plugin.call("seven", "{}").await.unwrap(), json!(7));
    }
}

#[tokio::test]
async fn a_hostile_alloc_or_free_fails_that_call_only() {
    let plugin = start(HOSTILE_ALLOC_FREE, "", json!({})).await;
    for (function, params, expect) in [
        ("ok", r#""abc""#, "guest trapped in alloc"),
        (
            "ok",
            r#""abcd""#,
            "alloc(6) returned -16, outside guest memory",
        ),
        ("ok", "{}", "guest trapped in free"),
        // An empty result is not freed (and is no envelope).
        ("empty", "{}", "malformed result envelope"),
    ] {
        let err = plugin.call(function, params).await.unwrap_err();
        assert!(
            matches!(err.kind(), RunnerErrorKind::Protocol(_)),
            "{params}: {err}"
        );
        assert!(err.to_string().contains(expect), "{params}: {err}");
        assert!(err.to_string().contains("plugin guest"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_storm_leaves_the_plugin_serving() {
    let plugin = start(ABI_GUEST, "pool: {max_instances: 3}", json!({})).await;
    let calls: Vec<_> = (0..60)
        .map(|i| {
            let runner = plugin.runner.clone();
            tokio::spawn(async move {
                let function = if i % 2 == 0 { "trap" } else { "echo" };
                (function, runner.call(function, &raw("[1]")).await)
            })
        })
        .collect();
    for call in calls {
        let (function, result) = call.await.unwrap();
        assert_eq!(result.is_ok(), function == "echo", "{function}: {result:?}");
    }
    assert_eq!(plugin.call("echo", "7").await.unwrap(), json!(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_callers_share_a_small_pool() {
    let plugin = start(
        ABI_GUEST,
        "pool: {max_instances: 2, wait_timeout: 10s}",
        json!({}),
    )
    .await;
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let runner = plugin.runner.clone();
            tokio::spawn(async move { runner.call("echo", &raw(&i.to_string())).await })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        let out = call.await.unwrap().unwrap();
        assert_eq!(out.get(), i.to_string());
    }
    // Every instance's init counts itself: never more than the pool's bound.
    let inits = plugin.host.kv()["inits"][0] - b'0';
    assert!((1..=2).contains(&inits), "{inits} instances were created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pool_makes_callers_wait_then_fail() {
    let plugin = start(
        ABI_GUEST,
        "permissions: {execution: {timeout: 3s}}\npool: {max_instances: 1, wait_timeout: 200ms}",
        json!({}),
    )
    .await;
    let runner = plugin.runner.clone();
    let spinning = tokio::spawn(async move { runner.call("spin", &raw("{}")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = plugin.call("echo", "1").await.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::PoolExhausted(_)),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin guest: call echo: pool exhausted: no free instance after 200ms"
    );
    let spun = spinning.await.unwrap().unwrap_err();
    assert!(matches!(spun.kind(), RunnerErrorKind::Timeout(_)), "{spun}");
    assert_eq!(plugin.call("echo", "1").await.unwrap(), json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_different_instances_run_in_parallel() {
    // With no waiting allowed, two spinning calls can only both be running
    // if they hold two instances at once; a third finds the pool full.
    let plugin = start(
        ABI_GUEST,
        "permissions: {execution: {timeout: 2s}}\npool: {max_instances: 2, wait_timeout: 0s}",
        json!({}),
    )
    .await;
    let spin = || {
        let runner = plugin.runner.clone();
        tokio::spawn(async move { runner.call("spin", &raw("{}")).await })
    };
    let (a, b) = (spin(), spin());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = plugin.call("echo", "1").await.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::PoolExhausted(_)),
        "{err}"
    );
    for call in [a, b] {
        let err = call.await.unwrap().unwrap_err();
        assert!(
            matches!(err.kind(), RunnerErrorKind::Timeout(_)),
            "both ran until the timeout: {err}"
        );
    }
}

#[tokio::test]
async fn host_functions_reach_the_host() {
    let plugin = start(ABI_GUEST, "", json!({"greeting": "hi"})).await;
    assert_eq!(plugin.ok("bump_counter").await, json!(1));
    assert_eq!(plugin.ok("bump_counter").await, json!(2));
    assert_eq!(
        plugin.host.kv().get("counter").map(Vec::as_slice),
        Some(&b"2"[..])
    );
    assert_eq!(plugin.ok("greeting").await, json!("hi"));

    assert_eq!(plugin.ok("announce").await, json!(1));
    let events = plugin.host.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "hello.said");
    assert_eq!(
        events[0].source, "guest",
        "the source defaults to the plugin name"
    );

    // A hostile pointer handed to the host is refused, not followed.
    assert_eq!(plugin.ok("hostile_key").await, json!(0));
    assert_eq!(plugin.ok("calls").await, json!(1), "the instance survived");

    let absent = start(ABI_GUEST, "", json!({})).await;
    assert_eq!(absent.ok("greeting").await, Value::Null);
}

#[tokio::test]
async fn http_goes_only_to_allowlisted_hosts() {
    let request = |url: &str| json!({"method": "GET", "url": url}).to_string();
    let allowed = start(
        ABI_GUEST,
        "permissions: {http: [{host: api.example.com}, {host: '*.example.org'}]}",
        json!({}),
    )
    .await;
    for url in [
        "https://evil.net/",
        "https://example.org/",
        "file:///etc/passwd",
        "https://api.example.com.evil.net/",
    ] {
        let err = allowed.call("http", &request(url)).await.unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{url}: {err}"
        );
    }
    // An allowed host reaches the host's HTTP service (MemoryHost refuses
    // every request itself, with its own message).
    for url in ["https://api.example.com/v1", "https://a.example.org/"] {
        let err = allowed.call("http", &request(url)).await.unwrap_err();
        assert!(
            err.to_string().contains("this host makes no HTTP requests"),
            "{url}: {err}"
        );
    }
    let malformed = allowed.call("http", r#"{"url": 5}"#).await.unwrap_err();
    assert!(
        malformed.to_string().contains("not an HTTP request"),
        "{malformed}"
    );

    let none = start(ABI_GUEST, "", json!({})).await;
    let err = none
        .call("http", &request("https://api.example.com/"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no HTTP permission"), "{err}");
}

#[tokio::test]
async fn lifecycle_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let host = Arc::new(MemoryHost::new("guest", json!({})));
    let runner = WasmRunner::new(WasmEngine::new().unwrap(), host);
    let err = runner.call("echo", &raw("1")).await.unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::NotLoaded), "{err}");

    std::fs::write(dir.path().join("guest.wat"), ABI_GUEST).unwrap();
    let manifest = Manifest::parse(&format!(
        "name: guest\nruntime: wasm\nwasm: {{module: {}}}\n",
        dir.path().join("guest.wat").display()
    ))
    .unwrap();
    runner.load(&manifest).await.unwrap();
    let err = runner.call("echo", &raw("1")).await.unwrap_err();
    assert_eq!(err.to_string(), "plugin guest: call echo: not started");
    assert!(!runner.health().await.unwrap().ready);
    runner.start(&json!({})).await.unwrap();
    assert!(runner.health().await.unwrap().ready);

    runner.stop(Duration::from_secs(1)).await.unwrap();
    let err = runner.call("echo", &raw("1")).await.unwrap_err();
    assert_eq!(err.to_string(), "plugin guest: call echo: stopped");
    assert!(!runner.health().await.unwrap().ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_drains_then_interrupts() {
    let plugin = start(
        ABI_GUEST,
        "permissions: {execution: {timeout: 1h}}",
        json!({}),
    )
    .await;
    let runner = plugin.runner.clone();
    let spinning = tokio::spawn(async move { runner.call("spin", &raw("{}")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    plugin
        .runner
        .stop(Duration::from_millis(200))
        .await
        .unwrap();
    let err = spinning.await.unwrap().unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::Stopped), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

async fn load_error(wat: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.wat");
    std::fs::write(&path, wat).unwrap();
    let manifest = Manifest::parse(&format!(
        "name: bad\nruntime: wasm\nwasm: {{module: {}}}\n",
        path.display()
    ))
    .unwrap();
    let runner = WasmRunner::new(
        WasmEngine::new().unwrap(),
        Arc::new(MemoryHost::new("bad", json!({}))),
    );
    if let Err(e) = runner.load(&manifest).await {
        return e.to_string();
    }
    runner.start(&json!({})).await.unwrap_err().to_string()
}

#[tokio::test]
async fn broken_modules_are_named_errors() {
    let no_alloc = load_error(r#"(module (memory (export "memory") 1))"#).await;
    assert!(
        no_alloc.contains("plugin bad") && no_alloc.contains("`alloc`"),
        "{no_alloc}"
    );
    let no_memory =
        load_error(r#"(module (func (export "alloc") (param i32) (result i32) i32.const 0))"#)
            .await;
    assert!(no_memory.contains("no `memory`"), "{no_memory}");
    let unknown_import = load_error(r#"(module (import "env" "system" (func)))"#).await;
    assert!(unknown_import.contains("env::system"), "{unknown_import}");
    let not_wasm = load_error("this is not a module").await;
    assert!(not_wasm.contains("invalid module"), "{not_wasm}");
    let init_fails = load_error(&ABI_GUEST.replace(
        "(call $respond (i32.const 144) (i32.const 4)))",
        "(call $pack (i32.const 32) (i32.const 16)))",
    ))
    .await;
    assert!(init_fails.contains("init: nope"), "{init_fails}");
    let missing = WasmRunner::new(
        WasmEngine::new().unwrap(),
        Arc::new(MemoryHost::new("x", json!({}))),
    )
    .load(&Manifest::parse("name: x\nruntime: wasm\nwasm: {module: /nonexistent.wasm}").unwrap())
    .await
    .unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("wasm.module /nonexistent.wasm: No such file"),
        "{missing}"
    );
    let _ = Path::new("");
}

#[tokio::test]
async fn the_compile_cache_serves_the_next_load() {
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("guest.wat"), ABI_GUEST).unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "name: guest\nruntime: wasm\nwasm: {module: guest.wat}\n",
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    for round in 0..2 {
        let runner = WasmRunner::new(
            WasmEngine::new().unwrap(),
            Arc::new(MemoryHost::new("guest", json!({}))),
        )
        .with_cache(plugin_wasm::ModuleCache::open(&cache.path().join("cache")).unwrap());
        runner.load(&manifest).await.unwrap();
        runner.start(&json!({})).await.unwrap();
        let out = runner.call("echo", &raw("[1]")).await.unwrap();
        assert_eq!(out.get(), "[1]", "round {round}");
        assert_eq!(
            std::fs::read_dir(cache.path().join("cache"))
                .unwrap()
                .count(),
            1,
            "round {round}"
        );
    }
}

/// A guest with two memories: `grow_first` and `grow_second` grow one of
/// them by 10 MiB and answer 1 if it grew, 0 if not.
const TWO_MEMORIES: &str = r#"(module
  (memory (export "memory") 1)
  (memory $second 1)
  (data (i32.const 0) "{\"data\":0}")
  (data (i32.const 16) "{\"data\":1}")
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func $answer (param $grew i32) (result i64)
    (if (result i64) (i32.eq (local.get $grew) (i32.const -1))
      (then (i64.const 10))
      (else (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 10)))))
  (func (export "grow_first") (param i32 i32) (result i64)
    (call $answer (memory.grow 0 (i32.const 160))))
  (func (export "grow_second") (param i32 i32) (result i64)
    (call $answer (memory.grow $second (i32.const 160)))))"#;

/// `memory.max` bounds all of a store's memories together (a module's
/// several, a component's core instances'), not each one: two memories of
/// 10 MiB do not fit in 16 MiB.
#[tokio::test]
async fn memory_max_holds_across_all_of_an_instances_memories() {
    let plugin = start(
        TWO_MEMORIES,
        "permissions: {memory: {max: 16MiB}}",
        json!({}),
    )
    .await;
    assert_eq!(plugin.ok("grow_first").await, json!(1));
    assert_eq!(plugin.ok("grow_second").await, json!(0));
    // Each alone fits: on a fresh instance the second grows.
    let plugin = start(
        TWO_MEMORIES,
        "permissions: {memory: {max: 16MiB}}",
        json!({}),
    )
    .await;
    assert_eq!(plugin.ok("grow_second").await, json!(1));
    assert_eq!(plugin.ok("grow_first").await, json!(0));
}

/// A guest that hands the host what it is given or what it names: `emit`
/// passes its params to `emit_event` (answering its status), `log_huge`
/// logs 2 MiB from offset 32.
const FORGER: &str = r#"(module
  (import "flowbot" "emit_event" (func $emit (param i32 i32) (result i32)))
  (import "flowbot" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 64)
  (global $bump (mut i32) (i32.const 65536))
  (data (i32.const 0) "{\"data\":0}")
  (data (i32.const 16) "{\"data\":1}")
  (func (export "alloc") (param $n i32) (result i32) (local $p i32)
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func $answer (param $ok i32) (result i64)
    (if (result i64) (local.get $ok)
      (then (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 10)))
      (else (i64.const 10))))
  (func (export "emit") (param $p i32) (param $n i32) (result i64)
    (call $answer (call $emit (local.get $p) (local.get $n))))
  (func (export "log_huge") (param i32 i32) (result i64)
    (call $log (i32.const 1) (i32.const 32) (i32.const 2097152))
    (call $answer (i32.const 1))))"#;

/// Whatever `source` a core-ABI guest writes, the event carries its
/// plugin's name (set by the host in `plugin_core::Identified`).
#[tokio::test]
async fn a_core_guest_cannot_emit_events_in_another_plugins_name() {
    let plugin = start(FORGER, "", json!({})).await;
    for source in ["victim", ""] {
        let event = json!({"event_type": "forged", "source": source}).to_string();
        assert_eq!(plugin.call("emit", &event).await.unwrap(), json!(1));
    }
    let sources: Vec<String> = plugin.host.events().into_iter().map(|e| e.source).collect();
    assert_eq!(sources, ["guest", "guest"]);
}

type LogLine = (String, std::collections::BTreeMap<String, String>);

/// The memory host, keeping the log lines it is given.
struct KeepsLogs(Arc<MemoryHost>, std::sync::Mutex<Vec<LogLine>>);

#[async_trait]
impl HostApi for KeepsLogs {
    async fn get_config(&self, key: &str) -> Result<Option<String>, HostError> {
        self.0.get_config(key).await
    }
    fn log(&self, _: LogLevel, message: &str, fields: &std::collections::BTreeMap<String, String>) {
        self.1
            .lock()
            .unwrap()
            .push((message.to_owned(), fields.clone()));
    }
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        self.0.kv_get(key).await
    }
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.0.kv_set(key, value).await
    }
    async fn kv_delete(&self, key: &str) -> Result<(), HostError> {
        self.0.kv_delete(key).await
    }
    async fn http_request(&self, request: HostHttpRequest) -> Result<HostHttpResponse, HostError> {
        self.0.http_request(request).await
    }
    async fn emit_event(&self, event: DataEvent) -> Result<(), HostError> {
        self.0.emit_event(event).await
    }
}

/// What the host copies out of a guest is bounded: an event past 1 MiB
/// fails `emit_event` (nothing is emitted), and a 2 MiB log line is kept
/// as its first 64 KiB with a note of what was dropped.
#[tokio::test]
async fn events_and_log_lines_are_bounded() {
    let logs = Arc::new(std::sync::Mutex::new(None::<Arc<KeepsLogs>>));
    let keep = logs.clone();
    let (plugin, started) = start_on(
        move |memory| {
            let host = Arc::new(KeepsLogs(memory, std::sync::Mutex::default()));
            *keep.lock().unwrap() = Some(host.clone());
            host as Arc<dyn HostApi>
        },
        FORGER,
        "",
        json!({}),
    )
    .await;
    started.unwrap();
    let big = json!({"event_type": "big", "data": {"blob": "x".repeat(1536 * 1024)}});
    assert_eq!(
        plugin.call("emit", &big.to_string()).await.unwrap(),
        json!(0)
    );
    assert!(plugin.host.events().is_empty(), "nothing was emitted");

    assert_eq!(plugin.ok("log_huge").await, json!(1));
    let host = logs.lock().unwrap().clone().unwrap();
    let kept = host.1.lock().unwrap().clone();
    let (message, fields) = kept.last().unwrap();
    assert_eq!(message.len(), 64 * 1024);
    assert_eq!(
        fields.get("truncated").map(String::as_str),
        Some("2031616 of 2097152 bytes dropped")
    );
}
