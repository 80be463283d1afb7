//! One live instance of a plugin: a core module's (a store, its instance
//! and typed exports, reached through the call shim) or a component's (see
//! `component`), behind one contract.

use plugin_core::RunnerErrorKind;
use serde_json::value::RawValue;
use wasmtime::{Extern, Func, InstancePre, Module, ModuleExport, Ref, Store, Table, TypedFunc};

use crate::abi::{self, Outcome};
use crate::call_shim::{self, CallBuffers, Shim, Stage};
use crate::component::{ComponentInstance, ComponentTemplate};
use crate::core_state::InstanceState;
use crate::sandbox::{Failure, Guarded, Sandbox, Watch, classify, guard, wasi_builder};

/// Everything needed to create instances of one loaded plugin.
pub(crate) struct Template {
    /// What each instance is held to.
    pub(crate) sandbox: Sandbox,
    /// The compiled plugin.
    pub(crate) code: Code,
}

/// A loaded plugin's code, linked and ready to instantiate.
pub(crate) enum Code {
    /// A core module (boxed: it is the larger kind).
    Module(Box<CoreTemplate>),
    /// A component of the `flowbot:plugin` world.
    Component(ComponentTemplate),
}

/// A core module linked for instantiation, its exports by index, and the
/// [call shim](crate::call_shim) that enters it.
pub(crate) struct CoreTemplate {
    pub(crate) pre: InstancePre<InstanceState>,
    pub(crate) exports: GuestExports,
    pub(crate) shim: Shim<InstanceState>,
}

/// A live instance, of either kind.
pub(crate) enum PluginInstance {
    Core(CoreInstance),
    Component(ComponentInstance),
}

impl PluginInstance {
    /// Instantiates the plugin and runs its `init` with `config` (JSON text).
    pub(crate) async fn create(template: &Template, config: &str) -> Result<Self, Failure> {
        match &template.code {
            Code::Module(core) => CoreInstance::create(&template.sandbox, core, config)
                .await
                .map(Self::Core),
            Code::Component(component) => {
                ComponentInstance::create(&template.sandbox, component, config)
                    .await
                    .map(Self::Component)
            }
        }
    }

    /// Starts the execution timeout for the next call.
    pub(crate) fn arm_deadline(&mut self) {
        match self {
            Self::Core(instance) => instance.arm_deadline(),
            Self::Component(instance) => instance.arm_deadline(),
        }
    }

    /// Calls the guest function `name` with JSON `params`.
    pub(crate) async fn call(
        &mut self,
        name: &str,
        params: &str,
    ) -> Result<Box<RawValue>, Failure> {
        match self {
            Self::Core(instance) => instance.call(name, params.as_bytes()).await,
            Self::Component(instance) => instance.call(name, params).await,
        }
    }

    /// Asks the guest whether it is ready.
    pub(crate) async fn is_ready(&mut self) -> Result<bool, Failure> {
        match self {
            Self::Core(instance) => instance.is_ready().await,
            Self::Component(instance) => instance.is_ready().await,
        }
    }
}

/// The indexes of the ABI's exports in one module, found once at load so
/// that each new instance looks them up without hashing their names.
pub(crate) struct GuestExports {
    memory: Option<ModuleExport>,
    alloc: Option<ModuleExport>,
    free: Option<ModuleExport>,
    is_ready: Option<ModuleExport>,
    initialize: Option<ModuleExport>,
    init: Option<ModuleExport>,
}

impl GuestExports {
    /// The ABI's exports of `module`, those it has.
    pub(crate) fn of(module: &Module) -> Self {
        let index = |name| module.get_export_index(name);
        Self {
            memory: index(abi::MEMORY),
            alloc: index(abi::ALLOC),
            free: index(abi::FREE),
            is_ready: index(abi::IS_READY),
            initialize: index(abi::INITIALIZE),
            init: index(abi::INIT),
        }
    }
}

/// A call through the shim: `(function index, params length)`.
type ShimEntry = TypedFunc<(i32, i32), ()>;

/// Which of the shim's entries a call takes.
#[derive(Clone, Copy)]
enum Entry {
    /// For functions returning an envelope.
    Invoke,
    /// For functions returning nothing.
    Deliver,
}

/// A live core-module instance.
pub(crate) struct CoreInstance {
    store: Store<InstanceState>,
    instance: wasmtime::Instance,
    is_ready: Option<TypedFunc<(), i32>>,
    /// The shim's table of guest functions.
    table: Table,
    /// Guest functions by name, with their index in `table`. Plugins
    /// export a handful: a scan beats hashing the name.
    functions: Vec<(Box<str>, i32)>,
    invoke: ShimEntry,
    deliver: ShimEntry,
}

impl CoreInstance {
    /// Instantiates the module and its call shim, runs its WASI initialiser
    /// and its `init` with `config` (JSON text).
    async fn create(sandbox: &Sandbox, core: &CoreTemplate, config: &str) -> Result<Self, Failure> {
        let CoreTemplate { pre, exports, shim } = core;
        let wasi = wasi_builder(sandbox)?.build_p1();
        let state = InstanceState {
            wasi,
            watch: Watch::new(sandbox),
            call: CallBuffers::default(),
            in_alloc: false,
        };
        let mut store = Store::new(pre.module().engine(), state);
        guard(&mut store);

        let instance = match pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) => return Err(classify(&store, "instantiation", e)),
        };
        let protocol = |m: String| Failure::poisoned(RunnerErrorKind::Protocol(m));
        let memory = export(&instance, &mut store, exports.memory.as_ref())
            .and_then(Extern::into_memory)
            .ok_or_else(|| protocol("the module exports no `memory`".into()))?;
        let alloc =
            typed_export::<i32, i32>(&instance, &mut store, exports.alloc.as_ref(), abi::ALLOC)?
                .ok_or_else(|| protocol("the module exports no `alloc` (i32) -> i32".into()))?;
        let free =
            typed_export::<i32, ()>(&instance, &mut store, exports.free.as_ref(), abi::FREE)?;
        let is_ready = typed_export(
            &instance,
            &mut store,
            exports.is_ready.as_ref(),
            abi::IS_READY,
        )?;

        let shim_failure = |e: wasmtime::Error| {
            Failure::poisoned(RunnerErrorKind::Other(format!("call shim: {e:#}").into()))
        };
        let entries = shim
            .instantiate(
                &mut store,
                memory,
                *alloc.func(),
                free.as_ref().map(|free| *free.func()),
            )
            .await
            .map_err(shim_failure)?;
        let invoke = entries.invoke.typed(&store).map_err(shim_failure)?;
        let deliver = entries.deliver.typed(&store).map_err(shim_failure)?;

        let mut this = Self {
            store,
            instance,
            is_ready,
            table: entries.functions,
            functions: Vec::new(),
            invoke,
            deliver,
        };
        let initialize = typed_export::<(), ()>(
            &this.instance,
            &mut this.store,
            exports.initialize.as_ref(),
            abi::INITIALIZE,
        )?;
        if let Some(initialize) = initialize
            && let Err(e) = initialize.call_async(&mut this.store, ()).await
        {
            return Err(this.trap(abi::INITIALIZE, e));
        }
        let init = export(&this.instance, &mut this.store, exports.init.as_ref())
            .and_then(Extern::into_func);
        this.init(init, config).await?;
        Ok(this)
    }

    /// Calls the guest's `init`, when it exports one, with the configuration.
    async fn init(&mut self, init: Option<Func>, config: &str) -> Result<(), Failure> {
        let Some(init) = init else {
            return Ok(());
        };
        if init.typed::<(i32, i32), i64>(&self.store).is_ok() {
            let index = self.add_function(abi::INIT, init)?;
            self.run(Entry::Invoke, abi::INIT, index, config.as_bytes())
                .await?;
            return match self.decode_result()? {
                Outcome::Data(_) => Ok(()),
                Outcome::Error(e) => Err(Failure::poisoned(RunnerErrorKind::Plugin(format!(
                    "init: {e}"
                )))),
            };
        }
        if init.typed::<(i32, i32), ()>(&self.store).is_err() {
            return Err(Failure::poisoned(RunnerErrorKind::Protocol(
                "export `init` must be (i32, i32) -> i64 or (i32, i32)".into(),
            )));
        }
        let index = self.add_function(abi::INIT, init)?;
        self.run(Entry::Deliver, abi::INIT, index, config.as_bytes())
            .await
    }

    /// Starts the execution timeout for the next call. The epoch deadline
    /// is reset too: left in the past by an idle spell, it would make the
    /// call yield to the runtime at its first check for no reason.
    fn arm_deadline(&mut self) {
        self.store.data_mut().watch.deadline.arm();
        self.store.set_epoch_deadline(1);
    }

    /// Calls the guest function `name` with JSON `params`.
    async fn call(&mut self, name: &str, params: &[u8]) -> Result<Box<RawValue>, Failure> {
        let index = self.function(name)?;
        self.run(Entry::Invoke, name, index, params).await?;
        match self.decode_result()? {
            Outcome::Data(data) => Ok(data),
            Outcome::Error(e) => Err(Failure::recoverable(RunnerErrorKind::Plugin(e))),
        }
    }

    /// Asks the guest whether it is ready (ready when it exports no `is_ready`).
    async fn is_ready(&mut self) -> Result<bool, Failure> {
        match self.is_ready.clone() {
            None => Ok(true),
            Some(is_ready) => is_ready
                .call_async(&mut self.store, ())
                .await
                .map(|ready| ready != 0)
                .map_err(|e| self.trap(abi::IS_READY, e)),
        }
    }

    /// The table index of the guest function `name`, checked and added on
    /// first use.
    fn function(&mut self, name: &str) -> Result<i32, Failure> {
        if let Some((_, index)) = self.functions.iter().find(|(known, _)| **known == *name) {
            return Ok(*index);
        }
        if abi::RESERVED.contains(&name) {
            return Err(Failure::recoverable(RunnerErrorKind::Unsupported));
        }
        let Some(function) = self.instance.get_func(&mut self.store, name) else {
            return Err(Failure::recoverable(RunnerErrorKind::Unsupported));
        };
        if function.typed::<(i32, i32), i64>(&self.store).is_err() {
            return Err(Failure::recoverable(RunnerErrorKind::Protocol(format!(
                "export `{name}` is not a function (i32, i32) -> i64"
            ))));
        }
        let index = self.add_function(name, function)?;
        self.functions.push((name.into(), index));
        Ok(index)
    }

    /// Puts `function` in the shim's table; `name` is for the error.
    fn add_function(&mut self, name: &str, function: Func) -> Result<i32, Failure> {
        self.table
            .grow(&mut self.store, 1, Ref::Func(Some(function)))
            .ok()
            .and_then(|index| i32::try_from(index).ok())
            .ok_or_else(|| {
                Failure::recoverable(RunnerErrorKind::Other(
                    format!("call shim: no room for function `{name}`").into(),
                ))
            })
    }

    /// One entry into wasm: the shim allocates the params in the guest,
    /// calls the function at `index` and, for `invoke`, keeps and frees its
    /// result. `during` names the function in errors.
    async fn run(
        &mut self,
        entry: Entry,
        during: &str,
        index: i32,
        params: &[u8],
    ) -> Result<(), Failure> {
        let len = i32::try_from(params.len()).map_err(|_| {
            Failure::recoverable(RunnerErrorKind::Protocol("params larger than 2 GiB".into()))
        })?;
        self.store.data_mut().call.begin(params);
        let entry = match entry {
            Entry::Invoke => &self.invoke,
            Entry::Deliver => &self.deliver,
        };
        let Err(e) = entry.call_async(&mut self.store, (index, len)).await else {
            return Ok(());
        };
        let call = &mut self.store.data_mut().call;
        if let Some(fault) = call.take_fault() {
            return Err(Failure::poisoned(RunnerErrorKind::Protocol(fault)));
        }
        let during = match call.stage() {
            Stage::Alloc => abi::ALLOC,
            Stage::Function => during,
            Stage::Free => abi::FREE,
        };
        Err(self.trap(during, e))
    }

    /// Decodes the envelope the last `invoke` kept.
    fn decode_result(&self) -> Result<Outcome, Failure> {
        abi::decode_envelope(self.store.data().call.result())
            .map_err(|e| Failure::poisoned(RunnerErrorKind::Protocol(e)))
    }

    fn trap(&self, during: &str, error: wasmtime::Error) -> Failure {
        classify(&self.store, during, error)
    }
}

/// The export at `index`, when the module has one.
fn export(
    instance: &wasmtime::Instance,
    store: &mut Store<InstanceState>,
    index: Option<&ModuleExport>,
) -> Option<Extern> {
    instance.get_module_export(&mut *store, index?)
}

/// The function export `name` at `index`, checked against its ABI type.
fn typed_export<P, R>(
    instance: &wasmtime::Instance,
    store: &mut Store<InstanceState>,
    index: Option<&ModuleExport>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, Failure>
where
    P: wasmtime::WasmParams,
    R: wasmtime::WasmResults,
{
    let wrong = |detail: String| {
        Failure::poisoned(RunnerErrorKind::Protocol(format!(
            "export `{name}` has the wrong type: {detail}"
        )))
    };
    match export(instance, store, index) {
        None => Ok(None),
        Some(Extern::Func(function)) => function
            .typed::<P, R>(&*store)
            .map(Some)
            .map_err(|e| wrong(e.to_string())),
        Some(_) => Err(wrong("not a function".into())),
    }
}

impl Guarded for InstanceState {
    fn watch(&mut self) -> &mut Watch {
        &mut self.watch
    }

    fn watched(&self) -> &Watch {
        &self.watch
    }
}

impl call_shim::HasCallBuffers for InstanceState {
    fn call_buffers(&mut self) -> &mut CallBuffers {
        &mut self.call
    }
}
