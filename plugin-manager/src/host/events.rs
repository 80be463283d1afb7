//! [`EventBus`]: where plugins' `emit_event` calls go, for the host to
//! subscribe to.

use plugin_types::DataEvent;
use serde::Serialize;
use tokio::sync::broadcast;

/// An event a plugin emitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmittedEvent {
    /// The plugin that emitted it.
    pub plugin: String,
    /// The event.
    pub event: DataEvent,
}

/// A broadcast bus of [`EmittedEvent`]s.
///
/// Publishing never waits: a subscriber that falls more than the capacity
/// behind misses the oldest events (and is told so by
/// [`broadcast::error::RecvError::Lagged`]); with no subscriber, events are
/// dropped.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<EmittedEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl EventBus {
    /// A bus holding up to `capacity` events per slow subscriber.
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// Receives every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EmittedEvent> {
        self.sender.subscribe()
    }

    /// Publishes `event` from `plugin`.
    pub fn publish(&self, plugin: &str, event: DataEvent) {
        tracing::debug!(plugin, event_type = %event.event_type, "plugin event");
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.sender.send(EmittedEvent {
            plugin: plugin.to_owned(),
            event,
        });
    }
}
