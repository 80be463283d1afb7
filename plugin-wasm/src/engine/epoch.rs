//! The epoch ticker: one thread advancing the epoch of every live engine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use wasmtime::{Engine, EngineWeak};

/// How often the epoch advances. A running guest yields to the async
/// runtime (and notices cancellation) once per tick, so this bounds how late
/// a timeout or a forced stop can be.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The epoch ticks so far, the same for every engine: deadlines are kept in
/// this count, whichever engine their store belongs to.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The engines the ticker advances; dropped engines fall out.
static ENGINES: Mutex<Vec<EngineWeak>> = Mutex::new(Vec::new());

/// Whether the ticker thread started (or why it could not).
static TICKER: OnceLock<Result<(), String>> = OnceLock::new();

/// How many epoch ticks have passed since the first engine was created.
pub(crate) fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Has the ticker advance `engine`'s epoch from now on, starting the
/// ticker thread with the first engine.
pub(crate) fn register(engine: &Engine) -> Result<(), String> {
    engines().push(engine.weak());
    TICKER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("wasm-epoch".into())
                .spawn(tick)
                .map(drop)
                .map_err(|e| format!("wasm epoch ticker: {e}"))
        })
        .clone()
}

fn engines() -> std::sync::MutexGuard<'static, Vec<EngineWeak>> {
    ENGINES.lock().unwrap_or_else(|p| p.into_inner())
}

fn tick() {
    loop {
        engines().retain(|weak| match weak.upgrade() {
            Some(engine) => {
                engine.increment_epoch();
                true
            }
            None => false,
        });
        TICKS.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(EPOCH_TICK);
    }
}
