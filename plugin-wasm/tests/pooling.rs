//! Runners on a pooling engine (`WasmEngine::pooling`): calls, traps and
//! limits as on the on-demand engine; each plugin reserves its pool's
//! slots at load, and one that does not fit is refused naming what it
//! asked and the host setting; components and the compile cache work
//! beside it.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::sync::Arc;

use plugin_core::ByteSize;
use plugin_core::{Manifest, MemoryHost, Runner, RunnerError, RunnerErrorKind};
use plugin_wasm::{ModuleCache, WasmEngine, WasmPooling, WasmRunner};
use serde_json::json;

mod common;
#[path = "../../test-support/examples.rs"]
mod examples;

use common::{call, raw};

const ABI_GUEST: &str = include_str!("guests/abi.wat");

/// A manifest for the ABI guest as plugin `name`, with extra `wasm:`
/// settings (the inside of a flow mapping).
fn manifest(dir: &tempfile::TempDir, name: &str, wasm_settings: &str) -> Manifest {
    let folder = dir.path().join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("guest.wat"), ABI_GUEST).unwrap();
    std::fs::write(
        folder.join("plugin.yaml"),
        format!("name: {name}\nruntime: wasm\nwasm: {{module: guest.wat, {wasm_settings}}}\n"),
    )
    .unwrap();
    Manifest::from_file(&folder).unwrap()
}

fn runner(engine: &WasmEngine, name: &str) -> WasmRunner {
    WasmRunner::new(engine.clone(), Arc::new(MemoryHost::new(name, json!({}))))
}

fn pooling(instances: u32, max_memory: u64) -> WasmEngine {
    WasmEngine::pooling(&WasmPooling {
        instances,
        max_memory: ByteSize(max_memory),
    })
    .unwrap()
}

fn refusal(result: Result<plugin_core::PluginInfo, RunnerError>) -> String {
    let err = result.unwrap_err();
    assert!(
        matches!(err.kind(), RunnerErrorKind::LimitExceeded(_)),
        "{err}"
    );
    err.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_traps_and_limits_hold_on_pooled_instances() {
    let dir = tempfile::tempdir().unwrap();
    let engine = pooling(8, 1 << 20);
    let plugin = runner(&engine, "pooled");
    plugin
        .load(&manifest(
            &dir,
            "pooled",
            "pool: {max_instances: 3}, permissions: {memory: {max: 1MiB}}",
        ))
        .await
        .unwrap();
    assert_eq!(engine.free_slots(), Some(5));
    let err = plugin.warm(1).await.unwrap_err();
    assert!(matches!(err.kind(), RunnerErrorKind::NotStarted), "{err}");
    plugin.start(&json!({})).await.unwrap();
    // `start` made one instance; warming fills the pool's other two, no more.
    assert_eq!(plugin.warm(5).await.unwrap(), 2);
    assert_eq!(plugin.warm(1).await.unwrap(), 0);
    let plugin = Arc::new(plugin);

    // Traps discard their instance; the pool makes new ones from its slots.
    let calls: Vec<_> = (0..60)
        .map(|i| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                let function = if i % 2 == 0 { "trap" } else { "echo" };
                (function, plugin.call(function, &raw(&json!([i]))).await)
            })
        })
        .collect();
    for call in calls {
        let (function, result) = call.await.unwrap();
        assert_eq!(result.is_ok(), function == "echo", "{function}: {result:?}");
    }
    assert_eq!(
        call(&plugin, "echo", json!({"a": 1})).await,
        json!({"a": 1})
    );

    // The manifest's memory cap still holds inside the slot.
    let err = plugin.call("grow", &raw(&json!({}))).await.unwrap_err();
    assert!(
        err.to_string().contains("memory limit of 1MiB reached"),
        "{err}"
    );
    assert_eq!(call(&plugin, "echo", json!(7)).await, json!(7));
}

#[tokio::test]
async fn each_plugin_reserves_its_slots_and_gives_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let engine = pooling(4, 1 << 20);
    let small = "pool: {max_instances: 3}, permissions: {memory: {max: 1MiB}}";
    let first = runner(&engine, "first");
    first.load(&manifest(&dir, "first", small)).await.unwrap();
    first.start(&json!({})).await.unwrap();

    // Two more instances than are free: refused before compiling, naming
    // the plugin, its setting and the host's.
    let second = runner(&engine, "second");
    let message = refusal(second.load(&manifest(&dir, "second", small)).await);
    assert!(message.contains("second"), "{message}");
    assert!(message.contains("wasm.pool.max_instances 3"), "{message}");
    assert!(message.contains("(1 of 4)"), "{message}");
    assert!(
        message.contains("plugins.wasm.pooling.instances"),
        "{message}"
    );
    assert_eq!(engine.free_slots(), Some(1));

    // A memory larger than a slot, whatever the count.
    let big = runner(&engine, "big");
    let message = refusal(
        big.load(&manifest(
            &dir,
            "big",
            "pool: {max_instances: 1}, permissions: {memory: {max: 2MiB}}",
        ))
        .await,
    );
    assert!(
        message.contains("wasm.permissions.memory.max 2097152 bytes"),
        "{message}"
    );
    assert!(
        message.contains("plugins.wasm.pooling.max_memory"),
        "{message}"
    );

    // The first plugin's slots come back when its runner goes.
    assert_eq!(call(&first, "echo", json!(1)).await, json!(1));
    first.stop(std::time::Duration::from_secs(1)).await.unwrap();
    drop(first);
    assert_eq!(engine.free_slots(), Some(4));
    let second = runner(&engine, "second");
    second.load(&manifest(&dir, "second", small)).await.unwrap();
    second.start(&json!({})).await.unwrap();
    assert_eq!(call(&second, "echo", json!(2)).await, json!(2));
}

#[tokio::test]
async fn a_module_too_large_for_a_slot_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let engine = pooling(4, 1 << 20);
    let manifest = manifest(
        &dir,
        "wide",
        "pool: {max_instances: 1}, permissions: {memory: {max: 1MiB}}",
    );
    // The guest, with a second memory.
    let module = manifest.wasm.as_ref().unwrap().module.clone();
    let wat = ABI_GUEST.replace(
        "(memory (export \"memory\") 4)",
        "(memory (export \"memory\") 4) (memory 1)",
    );
    std::fs::write(&module, wat).unwrap();
    let wide = runner(&engine, "wide");
    let message = refusal(wide.load(&manifest).await);
    assert!(message.contains("wide"), "{message}");
    assert!(message.contains("memories count of 2"), "{message}");
    assert!(
        message.contains("without `plugins.wasm.pooling`"),
        "{message}"
    );
    // Its reservation went with the refusal.
    assert_eq!(engine.free_slots(), Some(4));
}

#[tokio::test]
async fn components_and_the_cache_work_beside_a_pooling_engine() {
    examples::built();
    let engine = pooling(4, 4 << 30);
    let dir = tempfile::tempdir().unwrap();
    let cache = ModuleCache::open(&dir.path().join("cache")).unwrap();

    // A component runs (on the on-demand engine) and reserves nothing.
    let component =
        Manifest::from_file(&examples::workspace().join("examples/plugins/hello-component"))
            .unwrap();
    let config = json!({"greeting": "Hi"});
    let runner = WasmRunner::new(
        engine.clone(),
        Arc::new(MemoryHost::new("hello-component", config.clone())),
    )
    .with_cache(cache.clone());
    runner.load(&component).await.unwrap();
    runner.start(&config).await.unwrap();
    let greeting = call(&runner, "greet", json!({"name": "Ada"})).await;
    assert_eq!(greeting["text"], "Hi, Ada!");
    assert_eq!(engine.free_slots(), Some(4));

    // One module, one cache, two engines: each gets code compiled for it.
    let module = manifest(&dir, "shared", "pool: {max_instances: 1}");
    for engine in [engine.clone(), WasmEngine::new().unwrap(), engine] {
        let plugin = runner_with_cache(&engine, &cache);
        plugin.load(&module).await.unwrap();
        plugin.start(&json!({})).await.unwrap();
        assert_eq!(call(&plugin, "echo", json!([3])).await, json!([3]));
    }
}

fn runner_with_cache(engine: &WasmEngine, cache: &ModuleCache) -> WasmRunner {
    runner(engine, "shared").with_cache(cache.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_beside_calls_never_makes_more_instances_than_the_pool() {
    // Exactly the plugin's two instances fit the engine: a third, from
    // warming racing the calls, would fail to instantiate.
    let dir = tempfile::tempdir().unwrap();
    let engine = pooling(2, 1 << 20);
    let plugin = runner(&engine, "tight");
    plugin
        .load(&manifest(
            &dir,
            "tight",
            "pool: {max_instances: 2, wait_timeout: 10s}, permissions: {memory: {max: 1MiB}}",
        ))
        .await
        .unwrap();
    assert_eq!(engine.free_slots(), Some(0));
    plugin.start(&json!({})).await.unwrap();
    let plugin = Arc::new(plugin);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                if i % 4 == 0 {
                    plugin.warm(3).await.map(|_| json!(null))
                } else {
                    let function = if i % 4 == 1 { "trap" } else { "echo" };
                    match plugin.call(function, &raw(&json!(i))).await {
                        Err(e) if function == "trap" => {
                            assert!(!e.to_string().contains("instance"), "{e}");
                            Ok(json!(null))
                        }
                        other => other.map(|out| serde_json::from_str(out.get()).unwrap()),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(call(&plugin, "echo", json!(9)).await, json!(9));
}

#[test]
fn limits_the_pool_cannot_hold_name_the_setting() {
    for (instances, max_memory, expect) in [
        (0, 1 << 20, "instances must be at least 1"),
        (4, (4 << 30) + 1, "larger than a wasm32 memory"),
        (u32::MAX, 4 << 30, "exceeds addressable memory"),
    ] {
        let err = WasmEngine::pooling(&WasmPooling {
            instances,
            max_memory: ByteSize(max_memory),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("plugins.wasm.pooling"), "{err}");
        assert!(err.contains(expect), "{err}");
    }
}
