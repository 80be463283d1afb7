//! [`Lifecycle`]: the bookkeeping every runner keeps about its plugin.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::error::{RunnerError, RunnerErrorKind};
use crate::runner::HealthStatus;

/// Where a loaded plugin is: loaded, started (serving calls) or stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Loaded, `start` not yet done: calls are refused as "not started".
    Loaded,
    /// Started: calls are served.
    Started,
    /// `stop` has begun: calls are refused as "stopped".
    Stopping,
}

/// A loaded plugin's phase, start time and last error, shared by every
/// call; one per load. Invariants: the phase only moves forward (loaded →
/// started → stopping, or loaded → stopping), and the last error is the
/// latest failure that says something about the plugin's health (its own
/// errors and "unsupported" answers do not).
#[derive(Debug)]
pub struct Lifecycle {
    plugin: Box<str>,
    phase: AtomicU8,
    started_at: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
}

impl Lifecycle {
    /// A plugin named `plugin`, just loaded.
    pub fn new(plugin: &str) -> Self {
        Self {
            plugin: plugin.into(),
            phase: AtomicU8::new(Phase::Loaded as u8),
            started_at: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Loaded,
            1 => Phase::Started,
            _ => Phase::Stopping,
        }
    }

    /// Records a successful `start`: calls are served from now on.
    pub fn mark_started(&self) {
        *self.started_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        // Never moves a stopping plugin back.
        let _ = self.phase.compare_exchange(
            Phase::Loaded as u8,
            Phase::Started as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Records the start of `stop`: calls are refused from now on.
    pub fn mark_stopping(&self) {
        self.phase.store(Phase::Stopping as u8, Ordering::Release);
    }

    /// `Ok` when a call of `function` may run now; otherwise the recorded
    /// "not started" or "stopped" error.
    pub fn check_callable(&self, function: &str) -> Result<(), RunnerError> {
        match self.phase() {
            Phase::Started => Ok(()),
            Phase::Loaded => Err(self.fail(Some(function), RunnerErrorKind::NotStarted)),
            Phase::Stopping => Err(self.fail(Some(function), RunnerErrorKind::Stopped)),
        }
    }

    /// `kind` as an error of this plugin (in a call of `function`, if any),
    /// recorded as the last error unless it is the plugin's own answer.
    pub fn fail(&self, function: Option<&str>, kind: RunnerErrorKind) -> RunnerError {
        let error = match function {
            Some(function) => RunnerError::in_call(&*self.plugin, function, kind),
            None => RunnerError::new(&*self.plugin, kind),
        };
        let benign = matches!(
            error.kind(),
            RunnerErrorKind::Plugin(_) | RunnerErrorKind::Unsupported | RunnerErrorKind::NotStarted
        );
        if !benign {
            self.record(&error);
        }
        error
    }

    /// Records `error` as the last error.
    pub fn record(&self, error: &RunnerError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }

    /// The last error recorded.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How long the plugin has been started (zero before `start`).
    pub fn uptime(&self) -> Duration {
        self.started_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
            .unwrap_or_default()
    }

    /// A health report: `ready`, with the last error and the uptime.
    pub fn health(&self, ready: bool) -> HealthStatus {
        HealthStatus {
            ready,
            last_error: self.last_error(),
            uptime: self.uptime(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_forward_and_gate_calls() {
        let life = Lifecycle::new("p");
        assert_eq!(life.phase(), Phase::Loaded);
        let e = life.check_callable("f").unwrap_err();
        assert_eq!(e.to_string(), "plugin p: call f: not started");
        assert_eq!(
            life.last_error(),
            None,
            "not started is not a health problem"
        );
        life.mark_started();
        assert!(life.check_callable("f").is_ok());
        life.mark_stopping();
        life.mark_started();
        assert_eq!(life.phase(), Phase::Stopping, "never back from stopping");
        assert!(matches!(
            life.check_callable("f").unwrap_err().kind(),
            RunnerErrorKind::Stopped
        ));
        assert_eq!(
            life.last_error().as_deref(),
            Some("plugin p: call f: stopped")
        );
    }

    #[test]
    fn the_plugins_own_answers_are_not_recorded() {
        let life = Lifecycle::new("p");
        life.fail(Some("f"), RunnerErrorKind::Plugin("no".into()));
        life.fail(Some("f"), RunnerErrorKind::Unsupported);
        assert_eq!(life.last_error(), None);
        life.fail(None, RunnerErrorKind::Exited("signal 9".into()));
        assert_eq!(
            life.health(false).last_error.as_deref(),
            Some("plugin p exited (signal 9)")
        );
    }
}
