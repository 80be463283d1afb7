//! [`Lifecycle`]: the bookkeeping every runner keeps about its plugin, and
//! the [`Report`]s it pushes to whoever watches the plugin
//! ([`LifecycleEvents`]).
//!
//! A runner is the one place a plugin's condition is known: it sees the
//! plugin start, a health check answer, a call trap, the process exit. It
//! publishes each change as a [`Report`] on a watch channel made with the
//! runner ([`Reporter`]); a manager derives its status from the latest
//! report instead of asking. A watch keeps only the latest report: a
//! watcher that falls behind sees the current condition and the latest
//! error, never a stale one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

use crate::error::{RunnerError, RunnerErrorKind};

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

/// A plugin's readiness.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthStatus {
    /// Whether it answers calls.
    pub ready: bool,
    /// The last error it had, if any.
    pub last_error: Option<String>,
}

/// A plugin's condition, as its runner last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Condition {
    /// Not loaded yet, or loaded and not yet started.
    #[default]
    Loading,
    /// Started, and its last health check (if any) said ready.
    Ready,
    /// Started, but its last health check said not ready.
    Unready,
    /// `stop` has begun.
    Stopping,
    /// Its process (or whatever ran it) ended. `expected` when the host
    /// asked for it (`stop`), as opposed to a crash.
    Exited {
        /// How it ended: `exit status 3`, `signal 9 (SIGKILL)`.
        status: String,
        /// Whether the host asked for it.
        expected: bool,
    },
    /// It cannot serve any more, for a reason other than an exit (the
    /// last error says why); a supervisor restarts it.
    Failed,
}

impl Condition {
    /// Whether this is the end of the plugin's run that the host did not
    /// ask for: an unexpected exit or a failure. A supervisor restarts a
    /// plugin in this condition.
    pub fn is_crash(&self) -> bool {
        matches!(
            self,
            Self::Exited {
                expected: false,
                ..
            } | Self::Failed
        )
    }
}

/// What a runner last reported about its plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Where the plugin is.
    pub condition: Condition,
    /// The latest failure that says something about the plugin's health
    /// (its own errors and "unsupported" answers do not).
    pub last_error: Option<String>,
}

/// The sending side of a runner's reports: made with the runner, before
/// its plugin is loaded, so a watcher can subscribe at any time. Clones
/// send on the same channel.
#[derive(Debug, Clone)]
pub struct Reporter {
    sender: watch::Sender<Report>,
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter {
    /// A channel whose first report is [`Condition::Loading`].
    pub fn new() -> Self {
        Self {
            sender: watch::Sender::new(Report::default()),
        }
    }

    /// A new subscription; its first [`LifecycleEvents::next`] is the
    /// current report.
    pub fn subscribe(&self) -> LifecycleEvents {
        let mut receiver = self.sender.subscribe();
        receiver.mark_changed();
        LifecycleEvents { receiver }
    }

    /// The latest report.
    pub fn current(&self) -> Report {
        self.sender.borrow().clone()
    }

    /// Changes the report with `change`; watchers wake only if it changed.
    /// An exit is final: once the report says `Exited`, only the last
    /// error changes.
    pub fn update(&self, change: impl FnOnce(&mut Report)) {
        self.sender.send_if_modified(|report| {
            let before = report.clone();
            let exited = matches!(report.condition, Condition::Exited { .. });
            change(report);
            if exited && !matches!(report.condition, Condition::Exited { .. }) {
                report.condition = before.condition.clone();
            }
            *report != before
        });
    }

    /// Sets the condition.
    pub fn set(&self, condition: Condition) {
        self.update(|report| report.condition = condition);
    }

    /// Records an exit: the first one counts; later ones are the same.
    pub fn exited(&self, status: String, expected: bool) {
        self.update(|report| {
            if !matches!(report.condition, Condition::Exited { .. }) {
                report.condition = Condition::Exited { status, expected };
            }
        });
    }
}

/// The reports of one runner's plugin, change by change: what a manager
/// derives a plugin's status from and supervises it by.
#[derive(Debug)]
pub struct LifecycleEvents {
    receiver: watch::Receiver<Report>,
}

impl LifecycleEvents {
    /// The next report that differs from the last one returned (the
    /// current one, the first time); `None` once the runner is gone.
    pub async fn next(&mut self) -> Option<Report> {
        self.receiver.changed().await.ok()?;
        Some(self.receiver.borrow_and_update().clone())
    }

    /// The latest report, without waiting.
    pub fn current(&self) -> Report {
        self.receiver.borrow().clone()
    }

    /// Waits until a report satisfies `done`, and returns it; `None` if
    /// the runner went first.
    pub async fn wait_for(&mut self, mut done: impl FnMut(&Report) -> bool) -> Option<Report> {
        self.receiver
            .wait_for(|report| done(report))
            .await
            .ok()
            .map(|report| report.clone())
    }
}

/// A loaded plugin's phase and last error, shared by every call; one per
/// load, publishing through the runner's [`Reporter`]. Invariants: the
/// phase only moves forward (loaded → started → stopping, or loaded →
/// stopping), and the last error is the latest failure that says something
/// about the plugin's health (its own errors and "unsupported" answers do
/// not).
#[derive(Debug)]
pub struct Lifecycle {
    plugin: Box<str>,
    phase: AtomicU8,
    reporter: Reporter,
    /// Serialises phase changes with their reports, so a report never
    /// contradicts the phase.
    changing: Mutex<()>,
}

impl Lifecycle {
    /// A plugin named `plugin`, just loaded, reporting through `reporter`.
    pub fn new(plugin: &str, reporter: Reporter) -> Self {
        Self {
            plugin: plugin.into(),
            phase: AtomicU8::new(Phase::Loaded as u8),
            reporter,
            changing: Mutex::new(()),
        }
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Where reports go.
    pub fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Loaded,
            1 => Phase::Started,
            _ => Phase::Stopping,
        }
    }

    /// Records a successful `start`: calls are served from now on, and the
    /// plugin is reported ready.
    pub fn mark_started(&self) {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        // Never moves a stopping plugin back.
        if self
            .phase
            .compare_exchange(
                Phase::Loaded as u8,
                Phase::Started as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            self.reporter.set(Condition::Ready);
        }
    }

    /// Records the start of `stop`: calls are refused from now on.
    pub fn mark_stopping(&self) {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        self.phase.store(Phase::Stopping as u8, Ordering::Release);
        self.reporter.set(Condition::Stopping);
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
        let message = error.to_string();
        self.reporter
            .update(|report| report.last_error = Some(message));
    }

    /// The last error recorded.
    pub fn last_error(&self) -> Option<String> {
        self.reporter.current().last_error
    }

    /// Records a health check's answer (`ready` or not) while started, and
    /// returns it as a [`HealthStatus`] with the last error.
    pub fn health(&self, ready: bool) -> HealthStatus {
        {
            let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
            if self.phase() == Phase::Started {
                self.reporter.update(|report| {
                    if matches!(report.condition, Condition::Ready | Condition::Unready) {
                        report.condition = if ready {
                            Condition::Ready
                        } else {
                            Condition::Unready
                        };
                    }
                });
            }
        }
        HealthStatus {
            ready,
            last_error: self.last_error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_forward_and_gate_calls() {
        let life = Lifecycle::new("p", Reporter::new());
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
        let life = Lifecycle::new("p", Reporter::new());
        life.fail(Some("f"), RunnerErrorKind::Plugin("no".into()));
        life.fail(Some("f"), RunnerErrorKind::Unsupported);
        assert_eq!(life.last_error(), None);
        life.fail(None, RunnerErrorKind::Exited("signal 9".into()));
        assert_eq!(
            life.health(false).last_error.as_deref(),
            Some("plugin p exited (signal 9)")
        );
    }

    #[tokio::test]
    async fn every_change_is_reported_and_an_exit_is_final() {
        let reporter = Reporter::new();
        let mut events = reporter.subscribe();
        assert_eq!(events.next().await.unwrap().condition, Condition::Loading);
        let life = Lifecycle::new("p", reporter.clone());
        life.mark_started();
        assert_eq!(events.next().await.unwrap().condition, Condition::Ready);
        life.health(false);
        assert_eq!(events.next().await.unwrap().condition, Condition::Unready);
        life.fail(
            Some("f"),
            RunnerErrorKind::Timeout(std::time::Duration::from_secs(1)),
        );
        let report = events.next().await.unwrap();
        assert_eq!(report.condition, Condition::Unready);
        assert_eq!(
            report.last_error.as_deref(),
            Some("plugin p: call f: timed out after 1s")
        );
        reporter.exited("signal 9".into(), false);
        assert!(events.next().await.unwrap().condition.is_crash());
        life.health(true);
        reporter.set(Condition::Ready);
        reporter.exited("exit status 0".into(), true);
        assert_eq!(
            reporter.current().condition,
            Condition::Exited {
                status: "signal 9".into(),
                expected: false
            },
            "the first exit stands"
        );
        drop((life, reporter));
        assert_eq!(events.next().await, None, "the runner is gone");
    }
}
