//! [`InFlight`]: counting calls in flight, so that a stop or a runner swap
//! can wait for them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// More calls than can ever be in flight at once.
const CAPACITY: u32 = u32::MAX >> 3;

/// A gate calls pass through: each call holds a [`Pass`] while it runs;
/// [`drain`](Self::drain) closes the gate and waits for the passes out.
///
/// Invariant: once `drain` has begun, [`enter`](Self::enter) gives no pass,
/// so the calls waited for are exactly those that entered before.
#[derive(Debug)]
pub struct InFlight {
    gate: Arc<Semaphore>,
}

/// Held by a call while it runs.
#[derive(Debug)]
pub struct Pass(#[allow(dead_code)] OwnedSemaphorePermit);

impl Default for InFlight {
    fn default() -> Self {
        Self::new()
    }
}

impl InFlight {
    /// An open gate.
    pub fn new() -> Self {
        Self {
            gate: Arc::new(Semaphore::new(CAPACITY as usize)),
        }
    }

    /// A pass for one call, or `None` once draining has begun.
    pub fn enter(&self) -> Option<Pass> {
        self.gate.clone().try_acquire_owned().ok().map(Pass)
    }

    /// Closes the gate and waits until every call that entered has finished,
    /// or until `deadline` passes; says whether they all finished.
    pub async fn drain(&self, deadline: Option<Duration>) -> bool {
        // Queued first, the request takes every pass as it comes back, so
        // `enter` fails from now on.
        let all = self.gate.acquire_many(CAPACITY);
        let finished = match deadline {
            Some(deadline) => tokio::time::timeout(deadline, all).await.is_ok(),
            None => all.await.is_ok(),
        };
        self.gate.close();
        finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_waits_for_passes_and_refuses_new_ones() {
        let gate = Arc::new(InFlight::new());
        let pass = gate.enter().unwrap();
        let draining = tokio::spawn({
            let gate = gate.clone();
            async move { gate.drain(None).await }
        });
        tokio::task::yield_now().await;
        while gate.enter().is_some() {
            tokio::task::yield_now().await;
        }
        assert!(!draining.is_finished());
        drop(pass);
        assert!(draining.await.unwrap());
        assert!(gate.enter().is_none());
    }

    #[tokio::test]
    async fn drain_gives_up_at_the_deadline() {
        let gate = InFlight::new();
        let _stuck = gate.enter().unwrap();
        assert!(!gate.drain(Some(Duration::from_millis(10))).await);
        assert!(gate.enter().is_none());
    }
}
