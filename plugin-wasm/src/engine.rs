//! The one wasmtime engine every wasm plugin of the process shares.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel};

/// How often the epoch advances. A running guest yields to the async
/// runtime (and notices cancellation) once per tick, so this bounds how late
/// a timeout or a forced stop can be.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The epoch ticks so far: the shared engine's epoch, readable.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// How many epoch ticks have passed since the engine was created.
pub(crate) fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// The process-wide engine, created on first use with its epoch ticker thread.
///
/// Invariant: every store created from it has an epoch deadline callback, so
/// no guest runs more than one tick without returning control to the host.
pub(crate) fn shared_engine() -> Result<&'static Engine, String> {
    ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.epoch_interruption(true);
            config.cranelift_opt_level(OptLevel::Speed);
            let engine = Engine::new(&config).map_err(|e| format!("wasm engine: {e:#}"))?;
            let ticker = engine.weak();
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(move || {
                    while let Some(engine) = ticker.upgrade() {
                        engine.increment_epoch();
                        TICKS.fetch_add(1, Ordering::Relaxed);
                        drop(engine);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })
                .map_err(|e| format!("wasm epoch ticker: {e}"))?;
            Ok(engine)
        })
        .as_ref()
        .map_err(Clone::clone)
}
