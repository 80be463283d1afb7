//! [`AdapterError`]: what an adapter or a registry reports.

use plugin_core::RunnerError;

/// An adapter or registry failure; every variant names the plugin.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The runner failed the call (its error names plugin and function).
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The plugin answered something that is not the function's shape.
    #[error("plugin {plugin}: call {function}: cannot decode the answer: {message}")]
    Decode {
        /// The plugin.
        plugin: String,
        /// The function called.
        function: String,
        /// What is wrong with the answer.
        message: String,
    },
    /// The arguments could not be encoded as the function's params.
    #[error("plugin {plugin}: call {function}: cannot encode the params: {message}")]
    Encode {
        /// The plugin.
        plugin: String,
        /// The function called.
        function: String,
        /// Why.
        message: String,
    },
    /// A registry key is already taken by another plugin.
    #[error(
        "{what} {key} is already registered by plugin {existing}; plugin {new} cannot register it too"
    )]
    Conflict {
        /// What kind of entry (`module`, `ability`, `oauth provider`...).
        what: &'static str,
        /// The key, e.g. `greeting/greet`.
        key: String,
        /// The plugin holding it.
        existing: String,
        /// The plugin that asked.
        new: String,
    },
}
