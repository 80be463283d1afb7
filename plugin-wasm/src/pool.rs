//! The bounded instance pool.
//!
//! Invariant: at most `max_instances` instances exist at once, idle or
//! leased. A lease holds a semaphore permit; an instance is created only
//! under a permit when no idle one is left, and goes back to the idle list
//! only when the lease is released healthy. A lease dropped without
//! `release` (a trap, a timeout, a cancelled call) discards its instance.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::instance::PluginInstance;

/// The idle instances. Boxed, so a lease moves a pointer in and out of the
/// list, not the whole instance.
type Idle = Vec<Box<PluginInstance>>;

/// The instances of one loaded plugin calls run on, at most
/// `max_instances` of them (the manifest's `wasm.pool`).
pub(crate) struct Instances {
    idle: Mutex<Idle>,
    permits: Semaphore,
    max_instances: u32,
    wait_timeout: Duration,
}

/// Why no lease could be had.
pub(crate) enum AcquireError {
    /// No instance became free within the wait timeout.
    Exhausted(Duration),
    /// The pool is closed (the runner is stopping).
    Closed,
}

/// Exclusive use of one pool slot; holds an instance once one is taken or
/// created. It borrows the pool (no reference count to bump: two callers on
/// two threads share no counter but the semaphore's and the idle list's).
pub(crate) struct Lease<'a> {
    pool: &'a Instances,
    pub(crate) instance: Option<Box<PluginInstance>>,
    _permit: SemaphorePermit<'a>,
}

impl Instances {
    pub(crate) fn new(max_instances: u32, wait_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max_instances as usize),
            max_instances,
            wait_timeout,
        }
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to the wait timeout for a slot; the lease carries an idle
    /// instance when there is one.
    pub(crate) async fn acquire(&self) -> Result<Lease<'_>, AcquireError> {
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(AcquireError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                match tokio::time::timeout(self.wait_timeout, self.permits.acquire()).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(AcquireError::Closed),
                    Err(_) => return Err(AcquireError::Exhausted(self.wait_timeout)),
                }
            }
        };
        let instance = self.idle().pop();
        Ok(Lease {
            pool: self,
            instance,
            _permit: permit,
        })
    }

    /// A lease for creating one more instance ahead of calls: only when a
    /// slot is free now and the idle instances do not already fill every
    /// free slot (so instances never outnumber `max_instances`). The lease
    /// carries no instance.
    pub(crate) fn try_grow(&self) -> Option<Lease<'_>> {
        let permit = self.permits.try_acquire().ok()?;
        // Ours is taken: idle ones may fill the other free slots, plus ours.
        (self.idle().len() <= self.permits.available_permits()).then_some(Lease {
            pool: self,
            instance: None,
            _permit: permit,
        })
    }

    /// Puts a fresh instance straight into the idle list (used by `start`).
    pub(crate) fn add_idle(&self, instance: Box<PluginInstance>) {
        self.idle().push(instance);
    }

    /// Waits up to `drain` for every lease to end, then closes the pool and
    /// drops its idle instances. Returns whether everything drained.
    pub(crate) async fn close(&self, drain: Duration) -> bool {
        let drained = tokio::time::timeout(drain, self.permits.acquire_many(self.max_instances))
            .await
            .map(|permit| permit.map(|p| p.forget()).is_ok())
            .unwrap_or(false);
        self.permits.close();
        self.idle().clear();
        drained
    }
}

impl Lease<'_> {
    /// Ends the lease, keeping the instance for the next call.
    pub(crate) fn release(mut self) {
        if let Some(instance) = self.instance.take()
            && !self.pool.permits.is_closed()
        {
            self.pool.idle().push(instance);
        }
    }
}
