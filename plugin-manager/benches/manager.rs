//! Benchmarks of the manager (`cargo bench -p plugin-manager`), on copies of
//! the example plugins (built by `cargo xtask examples`):
//! - `reload/hello-wasm`, `reload/hello-grpc`: `PluginManager::reload`, the
//!   whole validate-then-swap: read the manifest, check the config, load and
//!   start the new version (compile with a warm module cache, or spawn a
//!   process), swap it in, drain and stop the old one;
//! - `load/50-wasm-plugins`: `PluginManager::start` on a folder of 50 wasm
//!   plugins (warm module cache), until all 50 run; shutdown is not timed.
//!
//! Before measuring, it runs 8 callers against each plugin across 20 reloads
//! and prints how many calls failed ("calls lost"); the bench fails if any
//! did.

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/plugin_dirs.rs"]
mod plugin_dirs;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_core::PluginState;
use plugin_manager::PluginManager;
use plugin_manager::host::DefaultHost;
use plugin_types::{PluginConfig, SourceConfig};
use serde_json::value::RawValue;

fn config(plugins: &Path) -> PluginConfig {
    PluginConfig {
        enabled: true,
        hot_reload: false,
        sources: vec![SourceConfig::local(plugins)],
        max_plugins: 100,
        ..PluginConfig::default()
    }
}

async fn manager(plugins: &Path, data: &Path) -> PluginManager {
    let host = DefaultHost::open(data).unwrap();
    let manager = PluginManager::builder(config(plugins), Arc::new(host))
        .wasm_cache_dir(data.join("wasm-cache"))
        .health_interval(Duration::ZERO)
        .build();
    manager.start().await.unwrap();
    manager
}

/// Callers on `plugin` across `reloads` reloads: (calls made, calls failed).
async fn calls_across_reloads(manager: &PluginManager, plugin: &str, reloads: usize) -> (u64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (manager, plugin, stop) = (manager.clone(), plugin.to_owned(), stop.clone());
            tokio::spawn(async move {
                let params = RawValue::from_string("null".into()).unwrap();
                let (mut ok, mut failed) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    match manager.call(&plugin, "help", &params).await {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    for _ in 0..reloads {
        manager.reload(plugin).await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let mut totals = (0, 0);
    for caller in callers {
        let (ok, failed) = caller.await.unwrap();
        totals = (totals.0 + ok + failed, totals.1 + failed);
    }
    totals
}

fn reload(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    plugin_dirs::copy_example("hello-wasm", plugins.path(), "hello-wasm");
    plugin_dirs::copy_example("hello-grpc", plugins.path(), "hello-grpc");
    let manager = runtime.block_on(manager(plugins.path(), data.path()));

    for plugin in ["hello-wasm", "hello-grpc"] {
        let (calls, lost) = runtime.block_on(calls_across_reloads(&manager, plugin, 20));
        println!("calls lost/{plugin}: {lost} of {calls} calls by 8 callers across 20 reloads");
        assert_eq!(lost, 0, "calls were lost across reloads");
    }

    let mut group = c.benchmark_group("reload");
    group.sample_size(20);
    for plugin in ["hello-wasm", "hello-grpc"] {
        group.bench_function(plugin, |b| {
            b.iter(|| runtime.block_on(manager.reload(plugin)).unwrap())
        });
    }
    group.finish();
    runtime.block_on(manager.shutdown());
}

fn load_50(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    for n in 0..50 {
        let dir = plugin_dirs::copy_example("hello-wasm", plugins.path(), &format!("p{n:02}"));
        let manifest = dir.join("plugin.yaml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let text = text
            .replace("name: hello-wasm", &format!("name: hello-{n:02}"))
            .replace(
                "capability: greeting\n",
                &format!("capability: greeting-{n:02}\n"),
            );
        std::fs::write(&manifest, text).unwrap();
    }
    // Warm the module cache.
    runtime.block_on(async {
        let manager = manager(plugins.path(), data.path()).await;
        assert_eq!(manager.list().len(), 50);
        manager.shutdown().await;
    });

    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("50-wasm-plugins", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                let manager = runtime.block_on(manager(plugins.path(), data.path()));
                total += started.elapsed();
                let running = manager.list();
                assert!(
                    running.len() == 50 && running.iter().all(|p| p.state == PluginState::Running)
                );
                runtime.block_on(manager.shutdown());
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, reload, load_50);
criterion_main!(benches);
