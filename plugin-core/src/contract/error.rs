//! The error a [`Runner`](crate::Runner) reports.

use std::fmt;
use std::time::Duration;

use crate::schema::ConfigError;

/// An error from a runner, naming the plugin and, for calls, the function:
/// `plugin echo: call help: timed out after 30s`.
#[derive(Debug)]
pub struct RunnerError {
    plugin: String,
    function: Option<String>,
    kind: RunnerErrorKind,
}

/// What went wrong in a runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerErrorKind {
    /// `call` or `start` before a successful `load`.
    #[error("not loaded")]
    NotLoaded,
    /// `call` before a successful `start`.
    #[error("not started")]
    NotStarted,
    /// `call` after `stop` began.
    #[error("stopped")]
    Stopped,
    /// The plugin does not export or implement the function.
    #[error("unsupported by plugin")]
    Unsupported,
    /// The call ran past its deadline and was interrupted.
    #[error("timed out after {}", plugin_types::duration::format(*.0))]
    Timeout(Duration),
    /// No instance became free within the pool's wait timeout.
    #[error("pool exhausted: no free instance after {}", plugin_types::duration::format(*.0))]
    PoolExhausted(Duration),
    /// The plugin hit a sandbox limit (memory, ...).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The plugin answered with an error of its own.
    #[error("{0}")]
    Plugin(String),
    /// The plugin broke the protocol: a malformed answer, a bad pointer, a
    /// missing export, a trap.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The plugin process exited.
    #[error("exited ({0})")]
    Exited(String),
    /// The plugin failed for good (it cannot serve until restarted), for
    /// a reason other than an exit.
    #[error("failed: {0}")]
    Failed(String),
    /// The configuration does not match the plugin's schema.
    #[error(transparent)]
    Config(ConfigError),
    /// The manifest asks for more than the host grants.
    #[error("permission denied: {0}")]
    PermissionDenied(Box<crate::grant::GrantError>),
    /// Anything else (I/O, compilation, transport...).
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RunnerError {
    /// An error of `plugin` outside any call.
    pub fn new(plugin: impl Into<String>, kind: RunnerErrorKind) -> Self {
        Self {
            plugin: plugin.into(),
            function: None,
            kind,
        }
    }

    /// An error of `plugin` while calling `function`.
    pub fn in_call(
        plugin: impl Into<String>,
        function: impl Into<String>,
        kind: RunnerErrorKind,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            function: Some(function.into()),
            kind,
        }
    }

    /// The plugin the error is about.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The function being called, if any.
    pub fn function(&self) -> Option<&str> {
        self.function.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &RunnerErrorKind {
        &self.kind
    }
}

impl fmt::Display for RunnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A config error already names the plugin.
        if let RunnerErrorKind::Config(e) = &self.kind {
            return e.fmt(f);
        }
        match (&self.function, &self.kind) {
            (None, RunnerErrorKind::Exited(status)) => {
                write!(f, "plugin {} exited ({status})", self.plugin)
            }
            (None, kind) => write!(f, "plugin {}: {kind}", self.plugin),
            (Some(function), kind) => write!(f, "plugin {}: call {function}: {kind}", self.plugin),
        }
    }
}

impl std::error::Error for RunnerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Violation;

    #[test]
    fn messages_name_plugin_and_function() {
        let e = RunnerError::in_call(
            "echo",
            "help",
            RunnerErrorKind::Timeout(Duration::from_secs(30)),
        );
        assert_eq!(e.to_string(), "plugin echo: call help: timed out after 30s");
        assert_eq!((e.plugin(), e.function()), ("echo", Some("help")));

        let e = RunnerError::new("echo", RunnerErrorKind::Exited("signal 9".into()));
        assert_eq!(e.to_string(), "plugin echo exited (signal 9)");

        let e = RunnerError::in_call("echo", "x", RunnerErrorKind::Unsupported);
        assert_eq!(e.to_string(), "plugin echo: call x: unsupported by plugin");

        let config = ConfigError {
            plugin: "echo".into(),
            violations: vec![Violation {
                pointer: "/a".into(),
                message: "bad".into(),
            }],
        };
        let e = RunnerError::new("echo", RunnerErrorKind::Config(config));
        assert_eq!(
            e.to_string(),
            "plugin echo: config does not match config_schema: /a: bad"
        );
    }

    #[test]
    fn exposes_the_underlying_source() {
        let io = std::io::Error::other("disk on fire");
        let e = RunnerError::new("echo", RunnerErrorKind::Other(Box::new(io)));
        assert_eq!(e.to_string(), "plugin echo: disk on fire");
        assert!(std::error::Error::source(&e).is_some());
    }
}
