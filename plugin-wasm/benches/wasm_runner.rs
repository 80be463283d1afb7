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
//!   on-disk compile cache.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use plugin_core::{Manifest, MemoryHost, Runner};
use plugin_wasm::WasmRunner;
use serde_json::json;
use serde_json::value::RawValue;

/// An echo guest with no imports, so the bare floor needs no linker.
const ECHO: &str = r#"(module
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 1024))
  (data (i32.const 0) "{\"data\":")
  (func $alloc (export "alloc") (param $n i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (i32.add (global.get $bump) (local.get $n)) (i32.const 131072))
      (then (global.set $bump (i32.const 1024))))
    (local.set $p (global.get $bump))
    (global.set $bump (i32.add (global.get $bump) (local.get $n)))
    (local.get $p))
  (func (export "echo") (param $p i32) (param $n i32) (result i64)
    (local $out i32)
    (local.set $out (call $alloc (i32.add (local.get $n) (i32.const 9))))
    (memory.copy (local.get $out) (i32.const 0) (i32.const 8))
    (memory.copy (i32.add (local.get $out) (i32.const 8)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 8))) (i32.const 125))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.add (local.get $n) (i32.const 9))))))"#;

fn params() -> Box<RawValue> {
    let text = json!({"user": "ada", "text": "hello there, this message is about a hundred bytes long", "n": [1, 2, 3, 4, 5, 6]}).to_string();
    assert!((90..=110).contains(&text.len()), "{}", text.len());
    RawValue::from_string(text).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    manifest: Manifest,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.wat"), ECHO).unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "name: echo\nruntime: wasm\nwasm: {module: echo.wat}\n",
    )
    .unwrap();
    let manifest = Manifest::from_file(dir.path()).unwrap();
    Fixture {
        _dir: dir,
        manifest,
    }
}

fn runner() -> WasmRunner {
    WasmRunner::new(Arc::new(MemoryHost::new("echo", json!({}))))
}

type EchoExports = (
    wasmtime::Memory,
    wasmtime::TypedFunc<i32, i32>,
    wasmtime::TypedFunc<(i32, i32), i64>,
);

/// The echo guest's memory, `alloc` and `echo`.
fn exports(store: &mut wasmtime::Store<()>, instance: wasmtime::Instance) -> EchoExports {
    (
        instance.get_memory(&mut *store, "memory").unwrap(),
        instance.get_typed_func(&mut *store, "alloc").unwrap(),
        instance.get_typed_func(&mut *store, "echo").unwrap(),
    )
}

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
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, ECHO).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let (memory, alloc, echo) = exports(&mut store, instance);
    let bytes = params.get().as_bytes();
    group.bench_function("bare_typed_func", |b| {
        b.iter(|| {
            let ptr = alloc.call(&mut store, bytes.len() as i32).unwrap();
            memory.write(&mut store, ptr as usize, bytes).unwrap();
            let packed = echo.call(&mut store, (ptr, bytes.len() as i32)).unwrap() as u64;
            let (out, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
            black_box(memory.data(&store)[out..out + len].to_vec())
        })
    });

    // The same two calls made as an embedder must on a store whose guests
    // may call async host functions (`call_async`, one fiber entry each).
    let mut store = wasmtime::Store::new(&engine, ());
    store.epoch_deadline_async_yield_and_update(u64::MAX / 2);
    let instance = rt
        .block_on(wasmtime::Instance::new_async(&mut store, &module, &[]))
        .unwrap();
    let (memory, alloc, echo) = exports(&mut store, instance);
    group.bench_function("bare_call_async", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let len = bytes.len() as i32;
                    let ptr = alloc.call_async(&mut store, len).await.unwrap();
                    memory.write(&mut store, ptr as usize, bytes).unwrap();
                    let packed = echo.call_async(&mut store, (ptr, len)).await.unwrap() as u64;
                    let (out, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
                    black_box(memory.data(&store)[out..out + len].to_vec());
                }
                start.elapsed()
            })
        })
    });

    // The JSON work of a call: decoding the result envelope as the runner
    // does (borrowed parse, then the `data` copied out).
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        data: Option<&'a RawValue>,
        #[serde(default)]
        error: Option<String>,
    }
    let envelope = format!(r#"{{"data":{}}}"#, params.get());
    group.bench_function("envelope_decode", |b| {
        b.iter(|| {
            let decoded: Envelope<'_> =
                serde_json::from_slice(black_box(envelope.as_bytes())).unwrap();
            black_box((decoded.data.map(|d| d.to_owned()), decoded.error))
        })
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
    let cache = tempfile::tempdir().unwrap();
    rt.block_on(
        runner()
            .with_cache_dir(cache.path())
            .load(&fixture.manifest),
    )
    .unwrap();
    group.bench_function("cached", |b| {
        b.iter(|| {
            rt.block_on(
                runner()
                    .with_cache_dir(cache.path())
                    .load(&fixture.manifest),
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, calls, lifecycle);
criterion_main!(benches);
