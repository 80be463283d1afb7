//! Our side of the peer bench (`../shared/peer-bench`, issue 15): speaks its
//! line protocol on stdin/stdout over `WasmRunner`, so that `bench.py` can
//! measure us and Extism round by round in one run.
//!
//! ```text
//! cargo xtask examples   # builds the SDK echo guest, sdk_echo.wasm
//! cargo build --release -p plugin-wasm --example peer_host
//! python3 bench.py --rounds 9 \
//!     ours=target/release/examples/peer_host:target/wasm32-wasip1/wasm-guest/sdk_echo.wasm \
//!     extism-1.41=/tmp/peer-bench/extism-host:extism_echo.wasm
//! ```
//!
//! Started as `peer_host MODULE.wasm`, it prints `ready <first-load-µs>`
//! once warm, then answers, one line each:
//! - `echo N` / `noop N`: N sequential calls on a warm instance; ns per call;
//! - `par2 N`: two tasks on a two-worker runtime calling one runner (a pool
//!   of two) N times each; total calls per second;
//! - `load K` / `loadc K`: K times, module on disk to the first answered
//!   `echo`, without and with a warm compile cache; µs each.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a measuring tool

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use plugin_core::{Manifest, MemoryHost, Runner};
use plugin_wasm::{ModuleCache, WasmEngine, WasmRunner};
use serde_json::json;
use serde_json::value::RawValue;

/// The bench's payload (85 bytes).
const PAYLOAD: &str =
    r#"{"user":"u-123456","channel":"c-98765","text":"hello there, plugin","n":42,"ok":true}"#;

/// A manifest for `module`, with a pool of `instances`.
fn manifest(module: &Path, instances: u32) -> Manifest {
    Manifest::parse(&format!(
        "name: peer\nruntime: wasm\nwasm:\n  module: {}\n  pool: {{max_instances: {instances}}}\n",
        module.display()
    ))
    .unwrap()
}

fn runner(cache: Option<&ModuleCache>) -> WasmRunner {
    let runner = WasmRunner::new(
        WasmEngine::new().unwrap(),
        Arc::new(MemoryHost::new("peer", json!({}))),
    );
    match cache {
        Some(cache) => runner.with_cache(cache.clone()),
        None => runner,
    }
}

/// Module on disk to the first answered `echo`; the runner and its time.
async fn load(module: &Path, cache: Option<&ModuleCache>, params: &RawValue) -> (WasmRunner, f64) {
    let start = Instant::now();
    let runner = runner(cache);
    runner.load(&manifest(module, 2)).await.unwrap();
    runner.start(&json!({})).await.unwrap();
    runner.call("echo", params).await.unwrap();
    let micros = start.elapsed().as_secs_f64() * 1e6;
    (runner, micros)
}

fn main() {
    let module: PathBuf = std::env::args_os()
        .nth(1)
        .expect("usage: peer_host MODULE.wasm")
        .into();
    let module = module.canonicalize().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let params: Box<RawValue> = RawValue::from_string(PAYLOAD.to_owned()).unwrap();
    let null = RawValue::from_string("null".to_owned()).unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = ModuleCache::open(&cache_dir.path().join("cache")).unwrap();

    let (runner, first) = rt.block_on(load(&module, None, &params));
    // Fill the cache, and warm the instance.
    rt.block_on(async {
        load(&module, Some(&cache), &params).await;
        for _ in 0..1000 {
            runner.call("echo", &params).await.unwrap();
            runner.call("noop", &null).await.unwrap();
        }
    });
    let runner = Arc::new(runner);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {first:.0}").unwrap();
    out.flush().unwrap();

    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let mut words = line.split_whitespace();
        let (Some(command), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let n: u64 = n.parse().unwrap();
        let answer = match command {
            "echo" | "noop" => rt.block_on(async {
                let params = if command == "echo" { &params } else { &null };
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(runner.call(command, params).await.unwrap());
                }
                format!("{:.0}", start.elapsed().as_nanos() as f64 / n as f64)
            }),
            "par2" => rt.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..2)
                    .map(|_| {
                        let (runner, params) = (runner.clone(), params.clone());
                        tokio::spawn(async move {
                            for _ in 0..n {
                                runner.call("echo", &params).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                format!("{:.0}", (2 * n) as f64 / start.elapsed().as_secs_f64())
            }),
            "load" | "loadc" => rt.block_on(async {
                let mut times = Vec::new();
                for _ in 0..n {
                    let cache = (command == "loadc").then_some(&cache);
                    times.push(format!("{:.0}", load(&module, cache, &params).await.1));
                }
                times.join(" ")
            }),
            other => panic!("unknown command {other}"),
        };
        writeln!(out, "{answer}").unwrap();
        out.flush().unwrap();
    }
}
