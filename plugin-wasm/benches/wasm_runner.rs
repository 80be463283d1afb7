//! Benchmarks of the wasm runner (`cargo bench -p plugin-wasm`):
//! - `call_100b/runner`: a call with ~100 bytes of JSON params through
//!   `WasmRunner::call` on a warm instance (pool lease, async call, params
//!   copy, envelope decode);
//! - `call_100b/bare_typed_func`: the same guest export called as a bare
//!   wasmtime typed function with the params copied in: the floor;
//! - `call_100b/bare_call_async`: the same, with `call_async` as a store
//!   with async host functions requires;
//! - `call_100b/envelope_decode`: the JSON work of a call's result;
//! - `instance/create`: a new instance (instantiate + init) via `start`;
//! - `load/compile` and `load/cached`: loading a module without and with the
//!   on-disk compile cache;
//! - `sdk_echo_100b/{core_module,component}`: the `echo` function of the
//!   SDK-built examples (`hello-wasm`, a core module; `hello-component`, the
//!   same handlers as a component) through `WasmRunner::call`;
//! - `sdk_echo_100b/bare_component`: `hello-component`'s echo on bare
//!   wasmtime (an async store with WASI only): the component floor;
//! - `instance_sdk_echo/{on_demand,pooling}`: one more instance of a started
//!   plugin of the peer bench's echo guest (`sdk_echo.wasm`), created and
//!   initialised by `WasmRunner::warm`: what a pool growing under load or a
//!   trap's replacement pays, on either instance allocator.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use plugin_core::Runner;
use serde_json::json;

#[path = "support/bare_component.rs"]
mod bare_component;
#[path = "support/echo.rs"]
mod echo;
#[path = "../../test-support/examples.rs"]
mod examples;

use echo::{bare_echo, bare_echo_async, bare_store, decode, fixture, params, runner, runner_on};

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = fixture();
    let runner = runner();
    rt.block_on(async {
        runner.load(&fixture.manifest).await.unwrap();
        runner.start(&json!({})).await.unwrap();
    });
    let params = params();
    let mut group = c.benchmark_group("call_100b");
    // Calls awaited one after another inside the runtime, as a host's
    // async code makes them (no `block_on` per call).
    group.bench_function("runner", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(runner.call("echo", black_box(&params)).await.unwrap());
                }
                start.elapsed()
            })
        })
    });

    // The floor: the same export, called directly on a synchronous store.
    let bytes = params.get().as_bytes();
    let (mut store, floor) = bare_store(&rt, false);
    group.bench_function("bare_typed_func", |b| {
        b.iter(|| black_box(bare_echo(&mut store, &floor, bytes)))
    });

    // The same two calls made as an embedder must on a store whose guests
    // may call async host functions (`call_async`, one fiber entry each).
    let (mut store, floor) = bare_store(&rt, true);
    group.bench_function("bare_call_async", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(bare_echo_async(&mut store, &floor, bytes).await);
                }
                start.elapsed()
            })
        })
    });

    // The JSON work of a call: decoding the result envelope as the runner
    // does (borrowed parse, then the `data` copied out).
    let envelope = format!(r#"{{"data":{}}}"#, params.get());
    group.bench_function("envelope_decode", |b| {
        b.iter(|| black_box(decode(black_box(envelope.as_bytes()))))
    });
    group.finish();
}

fn lifecycle(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = fixture();
    c.bench_function("instance/create", |b| {
        b.iter_batched(
            || {
                let runner = runner();
                rt.block_on(runner.load(&fixture.manifest)).unwrap();
                runner
            },
            |runner| rt.block_on(runner.start(&json!({}))).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let mut group = c.benchmark_group("load");
    group.bench_function("compile", |b| {
        b.iter(|| rt.block_on(runner().load(&fixture.manifest)).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let cache = plugin_wasm::ModuleCache::open(&dir.path().join("cache")).unwrap();
    rt.block_on(runner().with_cache(cache.clone()).load(&fixture.manifest))
        .unwrap();
    group.bench_function("cached", |b| {
        b.iter(|| {
            rt.block_on(runner().with_cache(cache.clone()).load(&fixture.manifest))
                .unwrap()
        })
    });
    group.finish();
}

/// The SDK's echo, as a core module and as a component.
fn sdk_echo(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    examples::built();
    let params = params();
    let mut group = c.benchmark_group("sdk_echo_100b");
    for (name, example) in [
        ("core_module", "examples/plugins/hello-wasm"),
        ("component", "examples/plugins/hello-component"),
    ] {
        let manifest =
            plugin_core::Manifest::from_file(&examples::workspace().join(example)).unwrap();
        let runner = runner();
        rt.block_on(async {
            runner.load(&manifest).await.unwrap();
            runner.start(&json!({})).await.unwrap();
        });
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(runner.call("echo", &params).await.unwrap());
                    }
                    start.elapsed()
                })
            });
        });
    }

    // The floor: the same component's `call("echo", ..)` on bare wasmtime
    // (an async store with WASI, no limits, deadline or pool).
    let (mut store, call) = rt.block_on(bare_component::instantiate());
    group.bench_function("bare_component", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let (out,) = call
                        .call_async(&mut store, ("echo", black_box(params.get())))
                        .await
                        .unwrap();
                    black_box(out.unwrap());
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

/// A new instance of a started plugin, on either allocator.
fn instances(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Instances per runner: a runner is replaced (untimed) when full.
    const PER_RUNNER: u32 = 64;
    let module = examples::built().wasm.join("sdk_echo.wasm");
    let manifest = plugin_core::Manifest::parse(&format!(
        "name: sdk\nruntime: wasm\nwasm: {{module: {}, pool: {{max_instances: {PER_RUNNER}}}}}\n",
        module.display()
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = plugin_wasm::ModuleCache::open(&dir.path().join("cache")).unwrap();
    let engines = [
        ("on_demand", plugin_wasm::WasmEngine::new().unwrap()),
        (
            "pooling",
            plugin_wasm::WasmEngine::pooling(&plugin_wasm::WasmPooling {
                instances: PER_RUNNER,
                ..Default::default()
            })
            .unwrap(),
        ),
    ];
    let mut group = c.benchmark_group("instance_sdk_echo");
    for (name, engine) in engines {
        let started = || {
            let runner = runner_on(engine.clone()).with_cache(cache.clone());
            rt.block_on(async {
                runner.load(&manifest).await.unwrap();
                runner.start(&json!({})).await.unwrap();
            });
            runner
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut runner = started();
                let mut elapsed = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let created = rt.block_on(runner.warm(1)).unwrap();
                    elapsed += start.elapsed();
                    if created == 0 {
                        drop(runner);
                        runner = started();
                        let start = Instant::now();
                        assert_eq!(rt.block_on(runner.warm(1)).unwrap(), 1);
                        elapsed += start.elapsed();
                    }
                }
                elapsed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, calls, lifecycle, sdk_echo, instances);
criterion_main!(benches);
