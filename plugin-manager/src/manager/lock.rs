//! [`lock`]: the manager's one way to take a std mutex.

use std::sync::{Mutex, MutexGuard};

/// Takes `mutex`, whatever a panic left in it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single assignment: a panic cannot
    // leave them half-written.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
