//! The epoch ticker: one thread per [`WasmEngine`](super::WasmEngine),
//! advancing the epoch of its wasmtime engines and counting the ticks its
//! stores' deadlines are kept in.
//!
//! The thread holds only weak references. Every engine handle and every
//! store's deadline hold the engine's [`Clock`]; once the last of them is
//! dropped, the thread finds it gone at its next tick and exits. Nothing
//! else keeps it: a compiled module kept in a
//! [`ModuleCache`](crate::ModuleCache) holds the wasmtime engine, not the
//! clock, and needs no ticks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime::{Engine, EngineWeak};

/// How often the epoch advances. A running guest yields to the async
/// runtime (and notices cancellation) once per tick, so this bounds how late
/// a timeout or a forced stop can be.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The name of each engine's ticker thread.
pub(crate) const THREAD_NAME: &str = "wasm-epoch";

/// The epoch ticks of one engine so far, which its stores' deadlines are
/// kept in. Clones share the count (and keep the ticker running).
#[derive(Debug, Clone)]
pub(crate) struct Clock(Arc<AtomicU64>);

impl Clock {
    /// How many epoch ticks have passed since the engine was created.
    pub(crate) fn ticks(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Starts the thread that advances `engines`' epochs every [`EPOCH_TICK`]
/// for as long as the clock it returns (or a clone) is alive.
pub(crate) fn start(engines: &[&Engine]) -> Result<Clock, String> {
    let clock = Arc::new(AtomicU64::new(0));
    let weak = Arc::downgrade(&clock);
    let engines: Vec<EngineWeak> = engines.iter().map(|engine| engine.weak()).collect();
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || tick(&weak, &engines))
        .map_err(|e| format!("wasm epoch ticker: {e}"))?;
    Ok(Clock(clock))
}

fn tick(clock: &Weak<AtomicU64>, engines: &[EngineWeak]) {
    loop {
        std::thread::sleep(EPOCH_TICK);
        let Some(clock) = clock.upgrade() else {
            return;
        };
        for engine in engines.iter().filter_map(EngineWeak::upgrade) {
            engine.increment_epoch();
        }
        clock.fetch_add(1, Ordering::Relaxed);
    }
}
