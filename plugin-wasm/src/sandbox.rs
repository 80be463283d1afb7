//! What every instance is held to, core module or component: the
//! [`Sandbox`] of a loaded plugin (its context, memory cap, execution
//! timeout and granted folders), the store setup that enforces it
//! ([`guard`]), the WASI context it gets ([`wasi_builder`]), and how a
//! failure is told apart ([`Failure`], [`classify`]).

use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use plugin_core::{AddressRules, FsMode, Preopen, RunnerErrorKind};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::deadline::Deadline;
use crate::engine::Clock;
use crate::limits::MemoryLimiter;
use crate::output::GuestOutput;
use crate::state::PluginContext;

/// What each instance of one loaded plugin is held to.
pub(crate) struct Sandbox {
    pub(crate) plugin: Arc<PluginContext>,
    /// The epoch ticks of the engine the plugin runs on.
    pub(crate) clock: Clock,
    pub(crate) memory_max: u64,
    /// The execution timeout of each call (and of creating an instance).
    pub(crate) timeout: Duration,
    /// The folders granted, each held open since it was checked.
    pub(crate) filesystem: Vec<Preopen>,
    /// Where `wasi:sockets` may connect; `None`: no sockets at all.
    pub(crate) sockets: Option<Arc<SocketRules>>,
}

/// The TCP connects a guest was granted through `wasi:sockets`: these
/// ports, on public addresses and the non-public networks granted.
#[derive(Debug)]
pub(crate) struct SocketRules {
    pub(crate) ports: Vec<u16>,
    pub(crate) addresses: AddressRules,
}

impl SocketRules {
    /// Whether the guest may use `addr` for `usage`: connect to a granted
    /// port on an allowed address, and the implicit bind to the wildcard
    /// address that a connect makes. Never listen, accept or UDP.
    fn allows(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        let plugin = self.addresses.plugin();
        let refused = match usage {
            SocketAddrUse::TcpConnect if !self.ports.contains(&addr.port()) => format!(
                "port {} is not granted: ask for it in wasm.permissions.network.connect, grant it in {}",
                addr.port(),
                plugin_types::PermissionPolicy::setting(plugin, "tcp_connect")
            ),
            SocketAddrUse::TcpConnect => match self.addresses.check(addr.ip()) {
                Ok(()) => return true,
                Err(why) => why,
            },
            SocketAddrUse::TcpBind if addr.ip().is_unspecified() && addr.port() == 0 => {
                return true;
            }
            other => format!("{other:?} is never granted to a wasm guest"),
        };
        tracing::warn!(plugin, address = %addr, "wasi:sockets refused: {refused}");
        false
    }
}

/// Why an instance operation failed, and whether the instance is still fit
/// for use (a trap or protocol breach poisons it: it is never reused).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: RunnerErrorKind,
    pub(crate) poisoned: bool,
}

impl Failure {
    pub(crate) fn poisoned(kind: RunnerErrorKind) -> Self {
        Self {
            kind,
            poisoned: true,
        }
    }

    pub(crate) fn recoverable(kind: RunnerErrorKind) -> Self {
        Self {
            kind,
            poisoned: false,
        }
    }
}

/// What each store is held to, core module or component: its memory
/// limiter, its plugin (stopped or not) and the current call's deadline.
pub(crate) struct Watch {
    pub(crate) limiter: MemoryLimiter,
    pub(crate) plugin: Arc<PluginContext>,
    pub(crate) deadline: Deadline,
}

impl Watch {
    /// A fresh watch for an instance of `sandbox`'s plugin.
    pub(crate) fn new(sandbox: &Sandbox) -> Self {
        Self {
            limiter: MemoryLimiter::new(sandbox.memory_max),
            plugin: sandbox.plugin.clone(),
            deadline: Deadline::new(sandbox.clock.clone(), sandbox.timeout),
        }
    }

    /// Whether the running guest must stop (the plugin is cancelled or the
    /// call's deadline has passed).
    fn interrupted(&mut self) -> bool {
        self.plugin.is_cancelled() || self.deadline.check()
    }
}

/// A store's data that carries a [`Watch`], for [`guard`] and [`classify`].
pub(crate) trait Guarded: Send + 'static {
    fn watch(&mut self) -> &mut Watch;
    fn watched(&self) -> &Watch;
}

/// The setup every store gets, core module or component: its memory cap,
/// and the epoch callback that interrupts it when the deadline passes or
/// the plugin is stopped (and otherwise yields once a tick).
pub(crate) fn guard<T: Guarded>(store: &mut Store<T>) {
    store.limiter(|state| &mut state.watch().limiter);
    store.epoch_deadline_callback(|mut cx| {
        if cx.data_mut().watch().interrupted() {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
}

/// Classifies an error from guest code of either kind, from what its store
/// recorded.
pub(crate) fn classify<T: Guarded>(
    store: &Store<T>,
    during: &str,
    error: wasmtime::Error,
) -> Failure {
    let Watch {
        limiter,
        plugin,
        deadline,
    } = store.data().watched();
    let kind = if limiter.hit() {
        RunnerErrorKind::LimitExceeded(format!(
            "memory limit of {} reached (during {during}: {error})",
            plugin_core::ByteSize(limiter.max_bytes() as u64)
        ))
    } else if plugin.is_cancelled() {
        RunnerErrorKind::Stopped
    } else if deadline.expired() {
        RunnerErrorKind::Timeout(deadline.timeout())
    } else {
        RunnerErrorKind::Protocol(format!("guest trapped in {during}: {error:#}"))
    };
    Failure::poisoned(kind)
}

/// WASI for one instance: no args or environment, output to `tracing`,
/// exactly the folders the manifest grants, each at its own path, and no
/// network (the builder's default) unless sockets were granted (WASI 0.2
/// only: preview 1 cannot open sockets).
pub(crate) fn wasi_builder(sandbox: &Sandbox) -> Result<WasiCtxBuilder, Failure> {
    let plugin = &sandbox.plugin;
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(GuestOutput::new(plugin.name.clone(), "stdout"))
        .stderr(GuestOutput::new(plugin.name.clone(), "stderr"))
        .args(&[plugin.name.as_ref()]);
    if let Some(rules) = &sandbox.sockets {
        let rules = rules.clone();
        builder
            .allow_tcp(true)
            .allow_ip_name_lookup(true)
            .socket_addr_check(move |addr, usage| {
                let allowed = rules.allows(addr, usage);
                Box::pin(async move { allowed })
            });
    }
    for grant in &sandbox.filesystem {
        let perms = match grant.mode {
            FsMode::Read => FsPerms::ReadOnly,
            FsMode::ReadWrite => FsPerms::ReadWrite,
        };
        let failed = |e: String| {
            Failure::recoverable(RunnerErrorKind::Other(
                format!("filesystem grant {}: {e}", grant.host.display()).into(),
            ))
        };
        // The folder that was checked, through the handle opened then:
        // never its path again, which the guest may have swapped since.
        let Some(dir) = &grant.dir else {
            return Err(failed(
                "checked but not opened (grant it with HostGrants::grant)".to_owned(),
            ));
        };
        builder
            .preopened_dir(dir.reopen_path(), &grant.guest, perms)
            .map_err(|e| failed(e.to_string()))?;
    }
    Ok(builder)
}
