//! The bounded instance pool.
//!
//! Invariant: at most `max_instances` instances exist at once, idle or
//! leased. A lease holds a semaphore permit; an instance is created only
//! under a permit when no idle one is left, and goes back to the idle list
//! only when the lease is released healthy. A lease dropped without
//! `release` (a trap, a timeout, a cancelled call) discards its instance.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::instance::PluginInstance;

/// The idle instances. Boxed, so a lease moves a pointer in and out of the
/// list, not the whole instance.
type Idle = Vec<Box<PluginInstance>>;

pub(crate) struct InstancePool {
    idle: Mutex<Idle>,
    permits: Arc<Semaphore>,
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

/// Exclusive use of one pool slot; holds an instance once one is taken or created.
pub(crate) struct Lease {
    pool: Arc<InstancePool>,
    pub(crate) instance: Option<Box<PluginInstance>>,
    _permit: OwnedSemaphorePermit,
}

impl InstancePool {
    pub(crate) fn new(max_instances: u32, wait_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max_instances as usize)),
            max_instances,
            wait_timeout,
        })
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to the wait timeout for a slot; the lease carries an idle
    /// instance when there is one.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Result<Lease, AcquireError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(AcquireError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                match tokio::time::timeout(self.wait_timeout, self.permits.clone().acquire_owned())
                    .await
                {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(AcquireError::Closed),
                    Err(_) => return Err(AcquireError::Exhausted(self.wait_timeout)),
                }
            }
        };
        let instance = self.idle().pop();
        Ok(Lease {
            pool: self.clone(),
            instance,
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

impl Lease {
    /// Ends the lease, keeping the instance for the next call.
    pub(crate) fn release(mut self) {
        if let Some(instance) = self.instance.take()
            && !self.pool.permits.is_closed()
        {
            self.pool.idle().push(instance);
        }
    }
}
