//! What each example guest costs, language by language (issue 14's table
//! in BENCHMARKS.md): module size, uncached compile, load from a warm
//! compile cache, creating an instance (instantiate and `init`), and the
//! 100-byte `echo` call (p50 and p99 of individually timed calls).
//!
//! Run `cargo xtask examples`, then
//! `cargo run --release -p plugin-wasm --example language_figures`.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a measuring tool

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugin_core::{Manifest, MemoryHost, Runner};
use plugin_wasm::{ModuleCache, WasmEngine, WasmRunner};
use serde_json::json;
use serde_json::value::RawValue;

/// (example folder, language, uncached compiles to time).
const EXAMPLES: [(&str, &str, usize); 5] = [
    ("hello-wasm", "Rust, core module", 3),
    ("hello-component", "Rust, component", 3),
    ("hello-go", "Go, core module", 3),
    ("hello-js", "JavaScript, component", 1),
    ("hello-python", "Python, component", 1),
];

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p) as usize]
}

fn runner(name: &str) -> WasmRunner {
    WasmRunner::new(
        WasmEngine::new().unwrap(),
        Arc::new(MemoryHost::new(name, json!({}))),
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let params = RawValue::from_string(
        json!({"user": "ada", "items": [1, 2, 3], "note": "a hundred bytes or so of JSON params"})
            .to_string(),
    )
    .unwrap();
    println!("| guest | size | uncached compile | cached load | instance | echo p50 | echo p99 |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (example, language, compiles) in EXAMPLES {
        let dir = root.join("examples/plugins").join(example);
        let manifest = Manifest::from_file(&dir).unwrap();
        let module = manifest.wasm.as_ref().unwrap().module.clone();
        let size = std::fs::metadata(dir.join(&module).canonicalize().unwrap_or(module))
            .map(|m| m.len())
            .unwrap_or(0);

        let mut compiles_taken = Vec::new();
        for _ in 0..compiles {
            let start = Instant::now();
            runner(example).load(&manifest).await.unwrap();
            compiles_taken.push(start.elapsed());
        }
        let compile = median(compiles_taken);

        let cache_dir = tempfile::tempdir().unwrap();
        let cache = ModuleCache::open(&cache_dir.path().join("cache")).unwrap();
        let warm = runner(example).with_cache(cache.clone());
        warm.load(&manifest).await.unwrap();
        let mut loads = Vec::new();
        let mut instances = Vec::new();
        for _ in 0..11 {
            let runner = runner(example).with_cache(cache.clone());
            let start = Instant::now();
            runner.load(&manifest).await.unwrap();
            loads.push(start.elapsed());
            let start = Instant::now();
            runner.start(&json!({})).await.unwrap();
            instances.push(start.elapsed());
            runner.stop(Duration::from_secs(1)).await.unwrap();
        }

        let runner = runner(example).with_cache(cache);
        runner.load(&manifest).await.unwrap();
        runner.start(&json!({})).await.unwrap();
        for _ in 0..1000 {
            runner.call("echo", &params).await.unwrap();
        }
        let mut calls = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let start = Instant::now();
            std::hint::black_box(runner.call("echo", &params).await.unwrap());
            calls.push(start.elapsed());
        }
        let p50 = percentile(&mut calls, 0.5);
        let p99 = percentile(&mut calls, 0.99);
        println!(
            "| {language} (`{example}`) | {:.2} MB | {:.1} ms | {:.2} ms | {:.0} µs | {:.2} µs | {:.2} µs |",
            size as f64 / 1e6,
            compile.as_secs_f64() * 1e3,
            median(loads).as_secs_f64() * 1e3,
            median(instances).as_secs_f64() * 1e6,
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
        );
    }
}
