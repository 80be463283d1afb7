//! The call shim: one entry into wasm per guest call.
//!
//! Under the ABI a call is three guest calls: `alloc` for the params, the
//! function, and `free` for its result. Made from the host, each is its own
//! `call_async`, and each of those enters a wasmtime fiber, which costs far
//! more than the guest code of a small call. The shim is a tiny module
//! instantiated in each plugin store beside the guest: it makes the three
//! calls from wasm, so the host enters once.
//!
//! Data crosses through [`CallBuffers`] in the store: before the entry the
//! host puts the params there; the shim's two host imports copy them into
//! the buffer `alloc` returned, and copy the function's result envelope out,
//! each after checking the range against the guest's memory. A range
//! outside it is a [fault](CallBuffers::fault), never an access. The guest
//! sees no difference: the same exports are called in the same order, with
//! the same arguments, as `docs/wasm-abi.md` describes.

use std::sync::OnceLock;

use wasmtime::{Caller, Engine, Extern, Func, Memory, Module};

use crate::abi;

/// The shim. `functions` holds the guest exports called so far, each at the
/// index the host gave it (all `(i32, i32) -> i64`, or `(i32, i32)` for a
/// result-less `init`). `invoke` leaves the result in the host's buffer and
/// frees it in the guest; `deliver` calls a function that returns nothing.
const SHIM: &str = r#"(module
  (type $returns (func (param i32 i32) (result i64)))
  (type $consumes (func (param i32 i32)))
  (import "guest" "alloc" (func $alloc (param i32) (result i32)))
  (import "guest" "free" (func $free (param i32)))
  (import "guest" "functions" (table $functions 0 funcref))
  (import "host" "params_to" (func $params_to (param i32)))
  (import "host" "result_from" (func $result_from (param i64)))
  (func (export "invoke") (param $index i32) (param $len i32)
    (local $ptr i32)
    (local $packed i64)
    (local.set $ptr (call $alloc (local.get $len)))
    (call $params_to (local.get $ptr))
    (local.set $packed
      (call_indirect $functions (type $returns)
        (local.get $ptr) (local.get $len) (local.get $index)))
    (call $result_from (local.get $packed))
    (if (i32.wrap_i64 (local.get $packed))
      (then (call $free (i32.wrap_i64 (i64.shr_u (local.get $packed) (i64.const 32)))))))
  (func (export "deliver") (param $index i32) (param $len i32)
    (local $ptr i32)
    (local.set $ptr (call $alloc (local.get $len)))
    (call $params_to (local.get $ptr))
    (call_indirect $functions (type $consumes)
      (local.get $ptr) (local.get $len) (local.get $index))))"#;

/// The shim's export that calls a function returning an envelope.
pub(crate) const INVOKE: &str = "invoke";
/// The shim's export that calls a function returning nothing.
pub(crate) const DELIVER: &str = "deliver";

/// A buffer grown past this (by a large params or result) is released at
/// the next call rather than kept for the instance's lifetime.
const KEPT_CAPACITY: usize = 1 << 20;

static SHIM_MODULE: OnceLock<Result<Module, String>> = OnceLock::new();

/// The shim compiled for `engine`, the process-wide one (compiled once).
pub(crate) fn module(engine: &Engine) -> Result<Module, String> {
    SHIM_MODULE
        .get_or_init(|| Module::new(engine, SHIM).map_err(|e| format!("call shim: {e:#}")))
        .clone()
}

/// Which guest export a call was in, for naming a trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// `alloc` for the params.
    Alloc,
    /// The function itself.
    Function,
    /// `free` for the result.
    Free,
}

/// The data one call passes through the shim; lives in the store.
#[derive(Debug)]
pub(crate) struct CallBuffers {
    /// The params, put here before the call.
    params: Vec<u8>,
    /// The function's result envelope, copied out of the guest.
    result: Vec<u8>,
    /// How far the call got.
    stage: Stage,
    /// A protocol breach the shim's imports saw (a range outside memory).
    fault: Option<String>,
}

impl Default for CallBuffers {
    fn default() -> Self {
        Self {
            params: Vec::new(),
            result: Vec::new(),
            stage: Stage::Alloc,
            fault: None,
        }
    }
}

impl CallBuffers {
    /// Readies the buffers for a call with `params`.
    pub(crate) fn begin(&mut self, params: &[u8]) {
        for buffer in [&mut self.params, &mut self.result] {
            if buffer.capacity() > KEPT_CAPACITY {
                *buffer = Vec::new();
            }
            buffer.clear();
        }
        self.params.extend_from_slice(params);
        self.stage = Stage::Alloc;
        self.fault = None;
    }

    /// The result envelope of the last call.
    pub(crate) fn result(&self) -> &[u8] {
        &self.result
    }

    /// How far the last call got.
    pub(crate) fn stage(&self) -> Stage {
        self.stage
    }

    /// Takes the protocol breach of the last call, if there was one.
    pub(crate) fn take_fault(&mut self) -> Option<String> {
        self.fault.take()
    }
}

/// A store's data that carries the shim's [`CallBuffers`].
pub(crate) trait HasCallBuffers: Send + 'static {
    fn call_buffers(&mut self) -> &mut CallBuffers;
}

/// The shim's imports, in its import order: the guest's `alloc` and `free`
/// (a no-op when the guest has none), the function table, and the two host
/// copies, bound to the guest's `memory`.
pub(crate) fn imports<T: HasCallBuffers>(
    store: &mut wasmtime::Store<T>,
    memory: Memory,
    alloc: Func,
    free: Option<Func>,
    functions: wasmtime::Table,
) -> [Extern; 5] {
    let free = free.unwrap_or_else(|| Func::wrap(&mut *store, |_: i32| {}));
    let params_to = Func::wrap(
        &mut *store,
        move |mut cx: Caller<'_, T>, ptr: i32| -> wasmtime::Result<()> {
            let (bytes, state) = memory.data_and_store_mut(&mut cx);
            let call = state.call_buffers();
            let len = call.params.len();
            let start = ptr as u32 as usize;
            match start
                .checked_add(len)
                .and_then(|end| bytes.get_mut(start..end))
            {
                Some(target) => {
                    target.copy_from_slice(&call.params);
                    call.stage = Stage::Function;
                    Ok(())
                }
                None => {
                    let fault = format!("alloc({len}) returned {ptr}, outside guest memory");
                    call.fault = Some(fault.clone());
                    Err(wasmtime::Error::msg(fault))
                }
            }
        },
    );
    let result_from = Func::wrap(
        &mut *store,
        move |mut cx: Caller<'_, T>, packed: i64| -> wasmtime::Result<()> {
            let (ptr, len) = abi::unpack(packed);
            let (bytes, state) = memory.data_and_store_mut(&mut cx);
            let call = state.call_buffers();
            match abi::guest_slice(bytes, ptr, len) {
                Ok(result) => {
                    call.result.extend_from_slice(result);
                    call.stage = Stage::Free;
                    Ok(())
                }
                Err(e) => {
                    let fault = format!("result pointer: {e}");
                    call.fault = Some(fault.clone());
                    Err(wasmtime::Error::msg(fault))
                }
            }
        },
    );
    [
        alloc.into(),
        free.into(),
        functions.into(),
        params_to.into(),
        result_from.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shim_compiles_for_the_shared_engine() {
        let engine = crate::engine::shared_engine().unwrap();
        let module = module(engine).unwrap();
        let exports: Vec<_> = module.exports().map(|e| e.name().to_owned()).collect();
        assert_eq!(exports, [INVOKE, DELIVER]);
    }

    #[test]
    fn buffers_are_reset_and_huge_ones_released() {
        let mut call = CallBuffers {
            params: Vec::with_capacity(KEPT_CAPACITY + 1),
            result: Vec::with_capacity(KEPT_CAPACITY + 1),
            stage: Stage::Free,
            fault: Some("x".into()),
        };
        call.result.push(1);
        call.begin(b"{}");
        assert_eq!(call.params, b"{}");
        assert!(call.result().is_empty());
        assert!(call.params.capacity() <= KEPT_CAPACITY);
        assert!(call.result.capacity() <= KEPT_CAPACITY);
        assert_eq!(call.stage(), Stage::Alloc);
        assert_eq!(call.take_fault(), None);
    }
}
