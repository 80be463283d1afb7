//! The execution timeout of a guest call, kept in epoch ticks.
//!
//! Each call arms its store's [`Deadline`] (one atomic load of its
//! engine's tick count, no clock read and no timer). Guest code is checked at every epoch tick by the store's
//! deadline callback, which interrupts it once the deadline has passed; a
//! host function the guest awaits is bounded by the time left. Either way
//! the deadline is marked expired, so the failure reads "timed out".
//!
//! Invariant: a call fails between `timeout` and `timeout` plus one
//! [`EPOCH_TICK`] after it was armed, never sooner.

use std::time::Duration;

use crate::engine::{Clock, EPOCH_TICK};

/// When the current call of one store must end.
#[derive(Debug)]
pub(crate) struct Deadline {
    /// The ticks of the store's engine (holding it keeps the ticker on).
    clock: Clock,
    timeout: Duration,
    /// `timeout` in ticks, plus one: the next tick may come at once, so
    /// only the ticks after it count as whole ones.
    span: u64,
    /// The tick at which the call is over.
    at_tick: u64,
    expired: bool,
}

impl Deadline {
    /// A deadline for calls of at most `timeout`, kept in `clock`'s
    /// ticks, armed from now.
    pub(crate) fn new(clock: Clock, timeout: Duration) -> Self {
        let whole_ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        let mut deadline = Self {
            clock,
            timeout,
            span: u64::try_from(whole_ticks)
                .unwrap_or(u64::MAX)
                .saturating_add(1),
            at_tick: 0,
            expired: false,
        };
        deadline.arm();
        deadline
    }

    /// Starts the clock for a new call.
    pub(crate) fn arm(&mut self) {
        self.at_tick = self.clock.ticks().saturating_add(self.span);
        self.expired = false;
    }

    /// Whether the call is over; called at each epoch tick.
    pub(crate) fn check(&mut self) -> bool {
        self.expired |= self.clock.ticks() >= self.at_tick;
        self.expired
    }

    /// Whether the call ran out of time.
    pub(crate) fn expired(&self) -> bool {
        self.expired
    }

    /// The execution timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The time left, for host work the guest waits on.
    pub(crate) fn remaining(&self) -> Duration {
        let left = self.at_tick.saturating_sub(self.clock.ticks());
        EPOCH_TICK.saturating_mul(u32::try_from(left).unwrap_or(u32::MAX))
    }

    /// Marks the call as out of time (host work outlived the deadline).
    pub(crate) fn expire(&mut self) {
        self.expired = true;
    }
}
