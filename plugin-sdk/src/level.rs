//! Log severity, shared by the wasm and gRPC halves.

/// Log severity of a line a plugin sends its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Debugging detail.
    Debug = 0,
    /// Normal operation.
    Info = 1,
    /// Something unexpected, handled.
    Warn = 2,
    /// A failure.
    Error = 3,
}

impl Level {
    /// The lowercase name the host parses: `debug`, `info`, `warn`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}
