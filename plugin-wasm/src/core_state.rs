//! [`InstanceState`]: what a core-module instance's store carries (WASI,
//! its [`Watch`], the call shim's buffers). A component's store carries
//! `component::ComponentState` instead.

use wasmtime_wasi::p1::WasiP1Ctx;

use crate::call_shim::CallBuffers;
use crate::sandbox::Watch;

/// The data of one instance's store.
pub(crate) struct InstanceState {
    pub(crate) wasi: WasiP1Ctx,
    /// Its memory limiter, plugin and call deadline.
    pub(crate) watch: Watch,
    /// What the current call passes through the call shim.
    pub(crate) call: CallBuffers,
    /// Set while a host function has called the guest's `alloc` for its
    /// result: a host function called from there traps, so a guest cannot
    /// nest host and guest calls (each nesting takes a fiber stack).
    pub(crate) in_alloc: bool,
}
