//! What a source reports as its plugins change: [`SourceEvent`]s, through
//! [`SourceEvents`].

use std::any::Any;
use std::path::PathBuf;

use tokio::sync::mpsc;

use super::discovery::{Diagnostic, Discovered};

/// A change in a source.
#[derive(Debug)]
pub enum SourceEvent {
    /// A plugin appeared.
    Added(Discovered),
    /// A plugin changed (its manifest, its artifact); the manager reloads
    /// it, reading it again through [`Source::reread`](crate::Source::reread).
    Updated(Discovered),
    /// A plugin went away.
    Removed {
        /// Where it was ([`Discovered::location`]).
        location: PathBuf,
        /// Its name when it was last seen.
        name: String,
    },
    /// A plugin became unusable; its last good version stands.
    Broken(Diagnostic),
}

/// The changes a source reports, in order; dropping it stops whatever
/// watches for them (its guard is dropped with it).
///
/// A source sends into a [`tokio::sync::mpsc`] channel and hands the
/// receiving end here, with [`with_guard`](Self::with_guard) for what must
/// live as long as the watching does (a watcher, a polling task's abort
/// handle).
pub struct SourceEvents {
    events: mpsc::Receiver<SourceEvent>,
    _guard: Option<Box<dyn Any + Send>>,
}

impl SourceEvents {
    /// The events sent into `events`' channel.
    pub fn new(events: mpsc::Receiver<SourceEvent>) -> Self {
        Self {
            events,
            _guard: None,
        }
    }

    /// No events, ever: what a source that cannot watch reports.
    pub fn none() -> Self {
        let (_, events) = mpsc::channel(1);
        Self::new(events)
    }

    /// Keeps `guard` until these events are dropped, then drops it (its
    /// `Drop` stops the watching).
    pub fn with_guard(mut self, guard: impl Send + 'static) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }

    /// The next change, or `None` once the source reports no more.
    pub async fn next(&mut self) -> Option<SourceEvent> {
        self.events.recv().await
    }
}

impl std::fmt::Debug for SourceEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceEvents").finish_non_exhaustive()
    }
}
