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
//!
//! Creating an instance is cheap on purpose: the host imports are defined
//! once per loaded plugin in a [`Linker`] (they find the guest's memory in
//! the store, not in a closure), the function table is the shim's own, and
//! the exports are found by index, not by name.

use wasmtime::{Caller, Engine, Extern, Func, Instance, Linker, Memory, Module, ModuleExport};

use crate::abi;

/// The shim. `functions`, its own table, holds the guest exports called so
/// far, each at the index the host gave it (all `(i32, i32) -> i64`, or
/// `(i32, i32)` for a result-less `init`). `invoke` leaves the result in
/// the host's buffer and frees it in the guest; `deliver` calls a function
/// that returns nothing.
const SHIM: &str = r#"(module
  (type $returns (func (param i32 i32) (result i64)))
  (type $consumes (func (param i32 i32)))
  (import "guest" "alloc" (func $alloc (param i32) (result i32)))
  (import "guest" "free" (func $free (param i32)))
  (import "host" "params_to" (func $params_to (param i32)))
  (import "host" "result_from" (func $result_from (param i64)))
  (table $functions (export "functions") 0 funcref)
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
/// The shim's table of guest functions.
const FUNCTIONS: &str = "functions";

/// A buffer grown past this (by a large params or result) is released at
/// the next call rather than kept for the instance's lifetime.
const KEPT_CAPACITY: usize = 1 << 20;

/// The shim compiled for `engine` (each `WasmEngine` does this once).
pub(crate) fn compile(engine: &Engine) -> Result<Module, String> {
    Module::new(engine, SHIM).map_err(|e| format!("call shim: {e:#}"))
}

/// The shim of one loaded plugin: its module, its host imports and its
/// exports' indexes, made once at load and shared by every instance.
pub(crate) struct Shim<T: 'static> {
    module: Module,
    host: Linker<T>,
    invoke: ModuleExport,
    deliver: ModuleExport,
    functions: ModuleExport,
}

/// A shim instantiated in one store.
pub(crate) struct ShimInstance {
    /// The entry for functions returning an envelope.
    pub(crate) invoke: Func,
    /// The entry for functions returning nothing.
    pub(crate) deliver: Func,
    /// The table the host puts guest functions in.
    pub(crate) functions: wasmtime::Table,
}

impl<T: HasCallBuffers> Shim<T> {
    /// The shim `module` (from [`compile`] for `engine`), with its host
    /// imports defined for stores of `engine`.
    pub(crate) fn new(engine: &Engine, module: &Module) -> Result<Self, String> {
        let module = module.clone();
        let export = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| format!("call shim: no export `{name}`"))
        };
        let (invoke, deliver, functions) = (export(INVOKE)?, export(DELIVER)?, export(FUNCTIONS)?);
        let mut host = Linker::new(engine);
        host.func_wrap("host", "params_to", params_to::<T>)
            .and_then(|host| host.func_wrap("host", "result_from", result_from::<T>))
            .and_then(|host| host.func_wrap("host", "free_nothing", |_: i32| {}))
            .map_err(|e| format!("call shim: {e:#}"))?;
        Ok(Self {
            module,
            host,
            invoke,
            deliver,
            functions,
        })
    }

    /// Instantiates the shim beside a guest whose exports are `alloc` and
    /// `free` (a no-op when the guest has none), bound to its `memory`.
    pub(crate) async fn instantiate(
        &self,
        store: &mut wasmtime::Store<T>,
        memory: Memory,
        alloc: Func,
        free: Option<Func>,
    ) -> Result<ShimInstance, wasmtime::Error>
    where
        T: Send,
    {
        store.data_mut().call_buffers().memory = Some(memory);
        let mut host = |name: &str| self.host.get(&mut *store, "host", name);
        let free = match free {
            Some(free) => Extern::from(free),
            None => host("free_nothing")?,
        };
        let imports = [alloc.into(), free, host("params_to")?, host("result_from")?];
        let shim = Instance::new_async(&mut *store, &self.module, &imports).await?;
        let func = |store: &mut wasmtime::Store<T>, export: &ModuleExport| {
            shim.get_module_export(&mut *store, export)
                .and_then(Extern::into_func)
                .ok_or_else(|| wasmtime::Error::msg("shim export missing"))
        };
        let invoke = func(store, &self.invoke)?;
        let deliver = func(store, &self.deliver)?;
        let functions = shim
            .get_module_export(&mut *store, &self.functions)
            .and_then(Extern::into_table)
            .ok_or_else(|| wasmtime::Error::msg("shim table missing"))?;
        Ok(ShimInstance {
            invoke,
            deliver,
            functions,
        })
    }
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
    /// The guest's memory, bound when the shim is instantiated.
    memory: Option<Memory>,
}

impl Default for CallBuffers {
    fn default() -> Self {
        Self {
            params: Vec::new(),
            result: Vec::new(),
            stage: Stage::Alloc,
            fault: None,
            memory: None,
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

/// Records `fault` as the call's protocol breach and fails the call.
fn breach(call: &mut CallBuffers, fault: String) -> wasmtime::Result<()> {
    call.fault = Some(fault.clone());
    Err(wasmtime::Error::msg(fault))
}

/// The shim's `params_to`: copies the params into the guest at `ptr`.
fn params_to<T: HasCallBuffers>(mut cx: Caller<'_, T>, ptr: i32) -> wasmtime::Result<()> {
    let Some(memory) = cx.data_mut().call_buffers().memory else {
        return breach(cx.data_mut().call_buffers(), "no guest memory bound".into());
    };
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
        None => breach(
            call,
            format!("alloc({len}) returned {ptr}, outside guest memory"),
        ),
    }
}

/// The shim's `result_from`: copies the result envelope out of the guest.
fn result_from<T: HasCallBuffers>(mut cx: Caller<'_, T>, packed: i64) -> wasmtime::Result<()> {
    let Some(memory) = cx.data_mut().call_buffers().memory else {
        return breach(cx.data_mut().call_buffers(), "no guest memory bound".into());
    };
    let (ptr, len) = abi::unpack(packed);
    let (bytes, state) = memory.data_and_store_mut(&mut cx);
    let call = state.call_buffers();
    match abi::guest_slice(bytes, ptr, len) {
        Ok(result) => {
            call.result.extend_from_slice(result);
            call.stage = Stage::Free;
            Ok(())
        }
        Err(e) => breach(call, format!("result pointer: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shim_compiles_for_the_shared_engine() {
        let module = compile(&Engine::default()).unwrap();
        let exports: Vec<_> = module.exports().map(|e| e.name().to_owned()).collect();
        assert_eq!(exports, [FUNCTIONS, INVOKE, DELIVER]);
    }

    #[test]
    fn buffers_are_reset_and_huge_ones_released() {
        let mut call = CallBuffers {
            params: Vec::with_capacity(KEPT_CAPACITY + 1),
            result: Vec::with_capacity(KEPT_CAPACITY + 1),
            stage: Stage::Free,
            fault: Some("x".into()),
            memory: None,
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
