//! The engine belongs to the embedder: one made from the embedder's own
//! `wasmtime::Config` runs plugins with their timeouts enforced, a config
//! the runner cannot work with is refused naming what is missing, and the
//! engine's epoch ticker thread ends once the last handle and the last
//! plugin on it are gone. A module can also be given as bytes, held to
//! the same size limit as a file.
//!
//! The tests of this file take [`ONE_AT_A_TIME`]: the ticker test counts
//! the process's ticker threads, which the others' engines would add to.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use plugin_core::{ByteSize, Manifest, MemoryHost, ModuleBytes, Runner, RunnerErrorKind};
use plugin_wasm::{ModuleCache, WasmEngine, WasmPooling, WasmRunner};
use serde_json::json;
use wasmtime::{Config, OptLevel};

mod common;

use common::{call, raw};

const ABI_GUEST: &str = include_str!("guests/abi.wat");

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `test` on a runtime of its own, one test at a time.
fn run(test: impl Future<Output = ()>) {
    let _one = one_at_a_time();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// A manifest for the ABI guest, its module given as bytes under a name
/// that is no file, with extra `wasm:` settings.
fn from_bytes(wasm_settings: &str) -> Manifest {
    let mut manifest = Manifest::parse(&format!(
        "name: guest\nruntime: wasm\nwasm: {{module: not-a-file.wasm, {wasm_settings}}}\n"
    ))
    .unwrap();
    let wasm = manifest.wasm.as_mut().unwrap();
    wasm.module_bytes = Some(ModuleBytes::from(ABI_GUEST.as_bytes()));
    manifest
}

fn runner(engine: &WasmEngine) -> WasmRunner {
    WasmRunner::new(
        engine.clone(),
        Arc::new(MemoryHost::new("guest", json!({}))),
    )
}

/// A started runner of the ABI guest on `engine`, whose calls time out
/// after 200 ms.
async fn started(engine: &WasmEngine) -> WasmRunner {
    let runner = runner(engine);
    runner
        .load(&from_bytes("permissions: {execution: {timeout: 200ms}}"))
        .await
        .unwrap();
    runner.start(&json!({})).await.unwrap();
    runner
}

/// Asserts that a spinning call is stopped by its timeout.
async fn spin_is_stopped(runner: &WasmRunner) {
    let err = runner.call("spin", &raw(&json!({}))).await.unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::Timeout(_)), "{err}");
    assert_eq!(call(runner, "echo", json!([1])).await, json!([1]));
}

/// A config an embedder might write: its own compiler settings, with
/// epoch interruption on as `from_config` asks.
fn users_config() -> Config {
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::None)
        .wasm_backtrace_max_frames(None)
        .max_wasm_stack(256 << 10);
    config
}

#[test]
fn an_engine_from_the_embedders_config_holds_calls_to_their_timeout() {
    run(async {
        let engine = WasmEngine::from_config(users_config()).unwrap();
        spin_is_stopped(&started(&engine).await).await;

        // The same config with a pool the runner sizes.
        let pooling = WasmPooling {
            instances: 4,
            max_memory: ByteSize::mib(64),
        };
        let engine = WasmEngine::pooling_from_config(users_config(), &pooling).unwrap();
        assert_eq!(engine.pooling_limits(), Some(&pooling));
        spin_is_stopped(&started(&engine).await).await;
    });
}

#[test]
fn a_config_the_runner_cannot_work_with_is_refused_naming_what_is_missing() {
    let _one = one_at_a_time();
    let err = WasmEngine::from_config(Config::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("epoch interruption off"), "{err}");
    assert!(err.contains("config.epoch_interruption(true)"), "{err}");

    let mut fuel = users_config();
    fuel.consume_fuel(true);
    let err = WasmEngine::from_config(fuel).unwrap_err().to_string();
    assert!(err.contains("config.consume_fuel(false)"), "{err}");

    let mut pooled = users_config();
    pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::pooling());
    let err = WasmEngine::from_config(pooled).unwrap_err().to_string();
    assert!(err.contains("WasmEngine::pooling_from_config"), "{err}");

    // The pooling constructor checks the rest of the config the same way.
    let err = WasmEngine::pooling_from_config(Config::new(), &WasmPooling::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.epoch_interruption(true)"), "{err}");
}

/// The process's engine ticker threads.
fn tickers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "wasm-epoch")
        .count()
}

/// Waits (at most a generous bound) until there are `count` tickers.
fn await_tickers(count: usize) {
    let bound = Instant::now() + Duration::from_secs(10);
    while tickers() != count {
        assert!(
            Instant::now() < bound,
            "{} ticker threads, expected {count}",
            tickers()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_ticker_ends_once_the_last_handle_and_plugin_are_gone() {
    run(async {
        // Those of other tests of this binary end first.
        await_tickers(0);
        let engine = WasmEngine::new().unwrap();
        let second = engine.clone();
        await_tickers(1);

        // A plugin outlives the handles: the ticker keeps holding it to its
        // timeout.
        let runner = started(&engine).await;
        drop((engine, second));
        spin_is_stopped(&runner).await;
        assert_eq!(tickers(), 1);

        drop(runner);
        await_tickers(0);

        // A pooling engine has one ticker for its modules and components.
        let engine = WasmEngine::pooling(&WasmPooling {
            instances: 2,
            max_memory: ByteSize::mib(64),
        })
        .unwrap();
        await_tickers(1);
        drop(engine);
        await_tickers(0);
    });
}

#[test]
fn a_module_given_as_bytes_runs_without_a_file_and_shares_the_cache() {
    run(async {
        let engine = WasmEngine::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cache = ModuleCache::open(&dir.path().join("cache")).unwrap();
        let entries = || std::fs::read_dir(dir.path().join("cache")).unwrap().count();

        let plugin = runner(&engine).with_cache(cache.clone());
        plugin.load(&from_bytes("")).await.unwrap();
        plugin.start(&json!({})).await.unwrap();
        assert_eq!(
            call(&plugin, "echo", json!({"a": 1})).await,
            json!({"a": 1})
        );
        assert_eq!(entries(), 1);

        // The same module from a file is the same cache entry.
        std::fs::write(dir.path().join("guest.wat"), ABI_GUEST).unwrap();
        std::fs::write(
            dir.path().join("plugin.yaml"),
            "name: guest\nruntime: wasm\nwasm: {module: guest.wat}\n",
        )
        .unwrap();
        let from_file = runner(&engine).with_cache(cache);
        from_file
            .load(&Manifest::from_file(dir.path()).unwrap())
            .await
            .unwrap();
        assert_eq!(entries(), 1);
    });
}

#[test]
fn bytes_over_the_artifact_limit_are_refused_naming_the_limit() {
    run(async {
        let engine = WasmEngine::new().unwrap();
        let runner = runner(&engine).with_max_artifact_size(ByteSize::kib(1));
        let err = runner.load(&from_bytes("")).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "wasm.module not-a-file.wasm is {} bytes, more than the 1KiB the host reads",
                ABI_GUEST.len()
            )),
            "{err}"
        );
        assert!(err.contains("plugins.guest.max_artifact_size"), "{err}");
    });
}
