//! [`ManagerError`]: why the manager could not do what it was asked.

use std::path::PathBuf;

use plugin_adapter::AdapterError;
use plugin_core::{ConfigError, GrantError, HostError, ManifestError, RunnerError};
use plugin_source::SourceError;

/// An error of the [`PluginManager`](crate::PluginManager); every message
/// names the plugin (or the folder) it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// No plugin of that name is loaded.
    #[error("plugin {0} is not loaded")]
    NotFound(String),
    /// The plugin is known but has no running version (its start failed, or
    /// its process died and is being restarted).
    #[error("plugin {plugin} is not running ({state}): {reason}")]
    NotRunning {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: plugin_core::PluginState,
        /// Its last error.
        reason: String,
    },
    /// A call, load, start or stop failed in the runner.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The plugin's configuration fails its `config_schema`.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Registering the plugin's adapters failed (a name already taken).
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The host services could not be set up for the plugin.
    #[error("plugin {plugin}: host services: {source}")]
    Host {
        /// The plugin.
        plugin: String,
        /// Why.
        source: HostError,
    },
    /// The manifest asks for more than the host grants.
    #[error("plugin {plugin}: permission denied: {source}")]
    Denied {
        /// The plugin refused.
        plugin: String,
        /// What it asked, and the setting that would allow it.
        source: Box<GrantError>,
    },
    /// Loading it would exceed `max_plugins`.
    #[error("plugin {plugin} not loaded: max_plugins ({max}) reached")]
    TooMany {
        /// The plugin refused.
        plugin: String,
        /// The limit.
        max: usize,
    },
    /// Another folder already provides a plugin of that name.
    #[error(
        "plugin {plugin} in {} not loaded: that name is already loaded from {}",
        dir.display(),
        existing.display()
    )]
    Duplicate {
        /// The plugin's name.
        plugin: String,
        /// The folder refused.
        dir: PathBuf,
        /// The folder it is loaded from.
        existing: PathBuf,
    },
    /// A reload found a plugin of another name where the plugin was.
    #[error(
        "plugin {plugin}: its source now has plugin {found} in its place (its folder, for a local source); unload it and load that instead"
    )]
    IdentityChanged {
        /// The plugin reloaded.
        plugin: String,
        /// The name in the new manifest.
        found: String,
    },
    /// The manifest names a runtime the host did not register.
    #[error(
        "plugin {plugin}: runtime {runtime:?} is not registered on this host (registered: {})",
        registered.join(", ")
    )]
    UnknownRuntime {
        /// The plugin's name.
        plugin: String,
        /// The runtime its manifest names.
        runtime: String,
        /// The runtimes the host registered.
        registered: Vec<String>,
    },
    /// A source could not be read or watched.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A typed call's params could not be serialized to JSON.
    #[error("plugin {plugin}: {function}: the params could not be serialized to JSON: {source}")]
    SerializeParams {
        /// The plugin called.
        plugin: String,
        /// The function called.
        function: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A typed call's JSON result could not be deserialized as the type
    /// asked for.
    #[error("plugin {plugin}: {function}: the result could not be deserialized: {source}")]
    DeserializeResult {
        /// The plugin called.
        plugin: String,
        /// The function called.
        function: String,
        /// Why.
        source: serde_json::Error,
    },
}
