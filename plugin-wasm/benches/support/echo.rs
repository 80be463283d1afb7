//! The echo guest and fixtures shared by the `wasm_runner` bench and the
//! `call_instructions` example.

#![allow(dead_code)] // each user takes what it needs

use std::sync::Arc;

use plugin_core::{Manifest, MemoryHost};
use plugin_wasm::{WasmEngine, WasmRunner};
use serde_json::json;
use serde_json::value::RawValue;

/// An echo guest with no imports, so the bare floor needs no linker.
pub(crate) const ECHO: &str = r#"(module
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

pub(crate) fn params() -> Box<RawValue> {
    let text = json!({"user": "ada", "text": "hello there, this message is about a hundred bytes long", "n": [1, 2, 3, 4, 5, 6]}).to_string();
    assert!((90..=110).contains(&text.len()), "{}", text.len());
    RawValue::from_string(text).unwrap()
}

pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) manifest: Manifest,
}

pub(crate) fn fixture() -> Fixture {
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

pub(crate) fn runner() -> WasmRunner {
    runner_on(WasmEngine::new().unwrap())
}

pub(crate) fn runner_on(engine: WasmEngine) -> WasmRunner {
    WasmRunner::new(engine, Arc::new(MemoryHost::new("echo", json!({}))))
}

pub(crate) type EchoExports = (
    wasmtime::Memory,
    wasmtime::TypedFunc<i32, i32>,
    wasmtime::TypedFunc<(i32, i32), i64>,
);

/// The echo guest's memory, `alloc` and `echo`.
pub(crate) fn exports(
    store: &mut wasmtime::Store<()>,
    instance: wasmtime::Instance,
) -> EchoExports {
    (
        instance.get_memory(&mut *store, "memory").unwrap(),
        instance.get_typed_func(&mut *store, "alloc").unwrap(),
        instance.get_typed_func(&mut *store, "echo").unwrap(),
    )
}

/// The floor: one echo as bare typed-function calls on a synchronous store
/// (`alloc`, the params copied in, `echo`, the result copied out).
pub(crate) fn bare_echo(
    store: &mut wasmtime::Store<()>,
    (memory, alloc, echo): &EchoExports,
    params: &[u8],
) -> Vec<u8> {
    let len = params.len() as i32;
    let ptr = alloc.call(&mut *store, len).unwrap();
    memory.write(&mut *store, ptr as usize, params).unwrap();
    let packed = echo.call(&mut *store, (ptr, len)).unwrap() as u64;
    let (out, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    memory.data(&*store)[out..out + len].to_vec()
}

/// The same two calls with `call_async`, as wasmtime requires of a store
/// whose guests may call async host functions: one fiber entry each.
pub(crate) async fn bare_echo_async(
    store: &mut wasmtime::Store<()>,
    (memory, alloc, echo): &EchoExports,
    params: &[u8],
) -> Vec<u8> {
    let len = params.len() as i32;
    let ptr = alloc.call_async(&mut *store, len).await.unwrap();
    memory.write(&mut *store, ptr as usize, params).unwrap();
    let packed = echo.call_async(&mut *store, (ptr, len)).await.unwrap() as u64;
    let (out, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    memory.data(&*store)[out..out + len].to_vec()
}

/// A store and the echo guest's exports, for the bare calls: synchronous, or
/// (`yielding`) set up as an async embedder's store, yielding at epochs.
pub(crate) fn bare_store(
    rt: &tokio::runtime::Runtime,
    yielding: bool,
) -> (wasmtime::Store<()>, EchoExports) {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, ECHO).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = if yielding {
        store.epoch_deadline_async_yield_and_update(u64::MAX / 2);
        rt.block_on(wasmtime::Instance::new_async(&mut store, &module, &[]))
            .unwrap()
    } else {
        wasmtime::Instance::new(&mut store, &module, &[]).unwrap()
    };
    let exports = exports(&mut store, instance);
    (store, exports)
}

/// The JSON work of a call: decoding a result envelope as the runner does
/// (borrowed parse, then `data` copied out).
pub(crate) fn decode(envelope: &[u8]) -> (Option<Box<RawValue>>, Option<String>) {
    let decoded: Envelope<'_> = serde_json::from_slice(envelope).unwrap();
    (decoded.data.map(|d| d.to_owned()), decoded.error)
}

/// The result envelope as the runner decodes it: borrowed, `data` kept raw.
#[derive(serde::Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow, default)]
    pub(crate) data: Option<&'a RawValue>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}
