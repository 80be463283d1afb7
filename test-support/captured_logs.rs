//! Shared by integration tests (included with `#[path =
//! "../../test-support/captured_logs.rs"] mod captured_logs;`): captures
//! what `tracing` logs on the current thread, as text.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

/// Everything logged while the guard from [`capture`] lives.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The log so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Routes this thread's `tracing` output into the returned buffer until the
/// guard is dropped (use a current-thread runtime, so spawned tasks log here
/// too).
pub(crate) fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}
