//! `hello-component` on bare wasmtime, the floor of a component call:
//! shared by the `wasm_runner` bench and the `call_instructions` example.

/// The guest world's `call-error`, for a typed call on bare wasmtime.
#[derive(wasmtime::component::ComponentType, wasmtime::component::Lift, Debug)]
#[component(variant)]
pub(crate) enum CallError {
    #[component(name = "unsupported")]
    Unsupported,
    #[component(name = "failed")]
    Failed(#[allow(dead_code)] String), // read through Debug only
}

/// The state of the bare component's store: WASI and nothing else.
pub(crate) struct Bare {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for Bare {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub(crate) type BareCall =
    wasmtime::component::TypedFunc<(&'static str, &'static str), (Result<String, CallError>,)>;

/// `hello-component` instantiated on a plain async engine (its host
/// imports trap if called; `echo` calls none), and its `call` export.
pub(crate) async fn instantiate() -> (wasmtime::Store<Bare>, BareCall) {
    use wasmtime::component::{Component, Linker};
    let engine = wasmtime::Engine::default();
    let path =
        crate::examples::workspace().join("examples/plugins/hello-component/hello_component.wasm");
    let component = Component::from_file(&engine, path).unwrap();
    let mut linker = Linker::<Bare>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    linker.define_unknown_imports_as_traps(&component).unwrap();
    let mut store = wasmtime::Store::new(
        &engine,
        Bare {
            wasi: wasmtime_wasi::WasiCtx::builder().build(),
            table: wasmtime::component::ResourceTable::new(),
        },
    );
    let instance = linker
        .instantiate_async(&mut store, &component)
        .await
        .unwrap();
    let guest = instance
        .get_export_index(&mut store, None, "flowbot:plugin/guest@0.1.0")
        .unwrap();
    let call = instance
        .get_export_index(&mut store, Some(&guest), "call")
        .unwrap();
    let call: BareCall = instance.get_typed_func(&mut store, call).unwrap();
    (store, call)
}
