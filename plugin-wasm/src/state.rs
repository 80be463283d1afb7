//! [`PluginContext`]: what all instances of one loaded plugin share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use plugin_core::{HostApi, HttpRequestRule};

/// What all instances of one loaded plugin share.
pub(crate) struct PluginContext {
    /// The plugin's name, for errors and logs.
    pub(crate) name: Arc<str>,
    /// The host services behind the `flowbot` imports.
    pub(crate) host: Arc<dyn HostApi>,
    /// Where its HTTP requests may go, and with which headers: checked by
    /// every way a guest asks (`http_request`, `fetch`, `wasi:http`).
    pub(crate) http: HttpRequestRule,
    /// Set when `stop` gives up draining: running guests are interrupted at
    /// the next epoch tick.
    cancelled: AtomicBool,
}

impl PluginContext {
    pub(crate) fn new(name: &str, host: Arc<dyn HostApi>, http: HttpRequestRule) -> Self {
        Self {
            name: name.into(),
            host,
            http,
            cancelled: AtomicBool::new(false),
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}
