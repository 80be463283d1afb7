//! One live instance of a plugin: a store, its instance and typed exports.

use std::collections::HashMap;
use std::sync::Arc;

use std::path::PathBuf;

use plugin_core::{FsMode, RunnerErrorKind};
use serde_json::value::RawValue;
use wasmtime::{InstancePre, Memory, Store, TypedFunc, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::abi::{self, Outcome};
use crate::limits::MemoryLimiter;
use crate::output::GuestOutput;
use crate::state::{InstanceState, PluginContext};

/// Everything needed to create instances of one loaded plugin.
pub(crate) struct Template {
    pub(crate) plugin: Arc<PluginContext>,
    pub(crate) pre: InstancePre<InstanceState>,
    pub(crate) memory_max: u64,
    pub(crate) filesystem: Vec<Grant>,
}

/// A folder granted to the guest.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// The folder on the host (relative grants resolved against the plugin folder).
    pub(crate) host: PathBuf,
    /// Where the guest sees it: the path as the manifest wrote it.
    pub(crate) guest: String,
    pub(crate) mode: FsMode,
}

/// Why an instance operation failed, and whether the instance is still fit
/// for use (a trap or protocol breach poisons it: it is never reused).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: RunnerErrorKind,
    pub(crate) poisoned: bool,
}

impl Failure {
    fn poisoned(kind: RunnerErrorKind) -> Self {
        Self {
            kind,
            poisoned: true,
        }
    }

    fn recoverable(kind: RunnerErrorKind) -> Self {
        Self {
            kind,
            poisoned: false,
        }
    }
}

type GuestFunction = TypedFunc<(i32, i32), i64>;

pub(crate) struct PluginInstance {
    store: Store<InstanceState>,
    instance: wasmtime::Instance,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    free: Option<TypedFunc<i32, ()>>,
    is_ready: Option<TypedFunc<(), i32>>,
    functions: HashMap<String, GuestFunction>,
}

impl PluginInstance {
    /// Instantiates the plugin, runs its WASI initialiser and its `init`
    /// with `config` (JSON text).
    pub(crate) async fn create(template: &Template, config: &str) -> Result<Self, Failure> {
        let plugin = &template.plugin;
        let wasi = wasi_context(plugin, &template.filesystem)?;
        let state = InstanceState {
            wasi,
            limiter: MemoryLimiter::new(template.memory_max),
            plugin: plugin.clone(),
        };
        let mut store = Store::new(template.pre.module().engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|cx| {
            if cx.data().plugin.is_cancelled() {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);

        let instance = match template.pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) => return Err(trap_failure(&store, "instantiation", e)),
        };
        let protocol = |m: String| Failure::poisoned(RunnerErrorKind::Protocol(m));
        let memory = instance
            .get_memory(&mut store, abi::MEMORY)
            .ok_or_else(|| protocol("the module exports no `memory`".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, abi::ALLOC)
            .map_err(|e| protocol(format!("export `alloc` (i32) -> i32: {e}")))?;
        let free = optional_export(&instance, &mut store, abi::FREE)?;
        let is_ready = optional_export(&instance, &mut store, abi::IS_READY)?;
        let mut this = Self {
            store,
            instance,
            memory,
            alloc,
            free,
            is_ready,
            functions: HashMap::new(),
        };
        let initialize =
            optional_export::<(), ()>(&this.instance, &mut this.store, abi::INITIALIZE)?;
        if let Some(initialize) = initialize
            && let Err(e) = initialize.call_async(&mut this.store, ()).await
        {
            return Err(this.trap(abi::INITIALIZE, e));
        }
        this.init(config).await?;
        Ok(this)
    }

    /// Calls `init` with the configuration, when the guest exports it.
    async fn init(&mut self, config: &str) -> Result<(), Failure> {
        let Some(init) = self.instance.get_func(&mut self.store, abi::INIT) else {
            return Ok(());
        };
        let (ptr, len) = self.write_params(config.as_bytes()).await?;
        if let Ok(init) = init.typed::<(i32, i32), i64>(&self.store) {
            let packed = init
                .call_async(&mut self.store, (ptr, len))
                .await
                .map_err(|e| self.trap(abi::INIT, e))?;
            return match self.read_result(packed).await? {
                Outcome::Data(_) => Ok(()),
                Outcome::Error(e) => Err(Failure::poisoned(RunnerErrorKind::Plugin(format!(
                    "init: {e}"
                )))),
            };
        }
        let init = init.typed::<(i32, i32), ()>(&self.store).map_err(|_| {
            Failure::poisoned(RunnerErrorKind::Protocol(
                "export `init` must be (i32, i32) -> i64 or (i32, i32)".into(),
            ))
        })?;
        init.call_async(&mut self.store, (ptr, len))
            .await
            .map_err(|e| self.trap(abi::INIT, e))
    }

    /// Calls the guest function `name` with JSON `params`.
    pub(crate) async fn call(
        &mut self,
        name: &str,
        params: &[u8],
    ) -> Result<Box<RawValue>, Failure> {
        let function = self.function(name)?;
        let (ptr, len) = self.write_params(params).await?;
        let packed = function
            .call_async(&mut self.store, (ptr, len))
            .await
            .map_err(|e| self.trap(name, e))?;
        match self.read_result(packed).await? {
            Outcome::Data(data) => Ok(data),
            Outcome::Error(e) => Err(Failure::recoverable(RunnerErrorKind::Plugin(e))),
        }
    }

    /// Asks the guest whether it is ready (ready when it exports no `is_ready`).
    pub(crate) async fn is_ready(&mut self) -> Result<bool, Failure> {
        match self.is_ready.clone() {
            None => Ok(true),
            Some(is_ready) => is_ready
                .call_async(&mut self.store, ())
                .await
                .map(|ready| ready != 0)
                .map_err(|e| self.trap(abi::IS_READY, e)),
        }
    }

    fn function(&mut self, name: &str) -> Result<GuestFunction, Failure> {
        if let Some(function) = self.functions.get(name) {
            return Ok(function.clone());
        }
        if abi::RESERVED.contains(&name) {
            return Err(Failure::recoverable(RunnerErrorKind::Unsupported));
        }
        let Some(function) = self.instance.get_func(&mut self.store, name) else {
            return Err(Failure::recoverable(RunnerErrorKind::Unsupported));
        };
        let typed = function
            .typed::<(i32, i32), i64>(&self.store)
            .map_err(|_| {
                Failure::recoverable(RunnerErrorKind::Protocol(format!(
                    "export `{name}` is not a function (i32, i32) -> i64"
                )))
            })?;
        self.functions.insert(name.to_owned(), typed.clone());
        Ok(typed)
    }

    /// Copies `bytes` into a fresh guest buffer from `alloc`.
    async fn write_params(&mut self, bytes: &[u8]) -> Result<(i32, i32), Failure> {
        let len = i32::try_from(bytes.len()).map_err(|_| {
            Failure::recoverable(RunnerErrorKind::Protocol("params larger than 2 GiB".into()))
        })?;
        let ptr = self
            .alloc
            .call_async(&mut self.store, len)
            .await
            .map_err(|e| self.trap(abi::ALLOC, e))?;
        self.memory
            .write(&mut self.store, ptr as u32 as usize, bytes)
            .map_err(|_| {
                Failure::poisoned(RunnerErrorKind::Protocol(format!(
                    "alloc({len}) returned {ptr}, outside guest memory"
                )))
            })?;
        Ok((ptr, len))
    }

    /// Reads, frees and decodes the envelope a guest function returned.
    async fn read_result(&mut self, packed: i64) -> Result<Outcome, Failure> {
        let (ptr, len) = abi::unpack(packed);
        let bytes = abi::guest_slice(self.memory.data(&self.store), ptr, len)
            .map(<[u8]>::to_vec)
            .map_err(|e| {
                Failure::poisoned(RunnerErrorKind::Protocol(format!("result pointer: {e}")))
            })?;
        if let Some(free) = self.free.clone()
            && len > 0
        {
            free.call_async(&mut self.store, ptr as i32)
                .await
                .map_err(|e| self.trap(abi::FREE, e))?;
        }
        abi::decode_envelope(&bytes).map_err(|e| Failure::poisoned(RunnerErrorKind::Protocol(e)))
    }

    fn trap(&self, during: &str, error: wasmtime::Error) -> Failure {
        trap_failure(&self.store, during, error)
    }
}

/// Classifies an error from guest code: a refused memory growth is a limit,
/// an interruption by `stop` is "stopped", anything else a trap.
fn trap_failure(store: &Store<InstanceState>, during: &str, error: wasmtime::Error) -> Failure {
    let state = store.data();
    let kind = if state.limiter.hit() {
        RunnerErrorKind::LimitExceeded(format!(
            "memory limit of {} reached (during {during}: {error})",
            plugin_core::ByteSize(memory_limit(state))
        ))
    } else if state.plugin.is_cancelled() {
        RunnerErrorKind::Stopped
    } else {
        RunnerErrorKind::Protocol(format!("guest trapped in {during}: {error}"))
    };
    Failure::poisoned(kind)
}

fn memory_limit(state: &InstanceState) -> u64 {
    state.limiter.max_bytes() as u64
}

fn optional_export<P, R>(
    instance: &wasmtime::Instance,
    store: &mut Store<InstanceState>,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, Failure>
where
    P: wasmtime::WasmParams,
    R: wasmtime::WasmResults,
{
    match instance.get_func(&mut *store, name) {
        None => Ok(None),
        Some(function) => function.typed::<P, R>(&*store).map(Some).map_err(|e| {
            Failure::poisoned(RunnerErrorKind::Protocol(format!(
                "export `{name}` has the wrong type: {e}"
            )))
        }),
    }
}

/// WASI for one instance: no args or environment, output to `tracing`, and
/// exactly the folders the manifest grants, each at its own path.
fn wasi_context(
    plugin: &PluginContext,
    filesystem: &[Grant],
) -> Result<wasmtime_wasi::p1::WasiP1Ctx, Failure> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(GuestOutput::new(plugin.name.clone(), "stdout"))
        .stderr(GuestOutput::new(plugin.name.clone(), "stderr"))
        .args(&[plugin.name.as_ref()]);
    for grant in filesystem {
        let perms = match grant.mode {
            FsMode::Read => FsPerms::ReadOnly,
            FsMode::ReadWrite => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(&grant.host, &grant.guest, perms)
            .map_err(|e| {
                Failure::recoverable(RunnerErrorKind::Other(
                    format!("filesystem grant {}: {e}", grant.host.display()).into(),
                ))
            })?;
    }
    Ok(builder.build_p1())
}
