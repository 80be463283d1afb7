//! What the manager reports about its plugins: [`PluginStatus`] and
//! [`ManagerDiagnostic`].

use std::path::PathBuf;

use plugin_core::{PluginState, Provides};
use serde::Serialize;

/// A snapshot of one managed plugin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStatus {
    /// Its name: the plugin's identity in the manager.
    pub name: String,
    /// The version serving (or last tried).
    pub version: String,
    /// `wasm` or `grpc`.
    pub runtime: String,
    /// The folder it is loaded from.
    pub dir: PathBuf,
    /// Where it is in its lifecycle.
    pub state: PluginState,
    /// The result of the last health poll (`None` before the first).
    pub ready: Option<bool>,
    /// Milliseconds since the serving version started.
    pub uptime_ms: Option<u64>,
    /// The last error: a failed start or reload, a crash, a failed health
    /// poll. A failed reload leaves the state `running` and says why here.
    pub last_error: Option<String>,
    /// How many times its process was restarted after dying.
    pub restarts: u32,
    /// How many versions have been installed: 1 after the first start, one
    /// more for each successful reload or restart.
    pub generation: u64,
    /// What it provides, as `module`, `ability CAP/OP`, `provider NAME`.
    pub provides: Vec<String>,
    /// What the host granted the serving version, one line each
    /// (`filesystem /data (readwrite, host …)`, `http api.example.com`,
    /// `network 127.0.0.0/8`, `memory 16MiB`...).
    pub permissions: Vec<String>,
    /// For a process plugin, the confinement in force, one measure a line
    /// (`network: none: no TCP connect, ...`); a measure the kernel could
    /// not apply ends in `(NOT ENFORCED)`. Empty for wasm plugins.
    pub confinement: Vec<String>,
}

/// A plugin folder that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagerDiagnostic {
    /// The folder or manifest file.
    pub path: PathBuf,
    /// Why (naming the file and the field, or the rule that refused it).
    pub message: String,
}

/// `provides` as short lines: `module`, `ability greeting/greet`,
/// `provider github (oauth)`.
pub fn describe_provides(provides: &Provides) -> Vec<String> {
    let mut lines = Vec::new();
    if provides.module {
        lines.push("module".to_owned());
    }
    for ability in &provides.abilities {
        for operation in &ability.operations {
            lines.push(format!("ability {}/{operation}", ability.capability));
        }
    }
    if let Some(provider) = &provides.provider {
        lines.push(if provider.oauth {
            format!("provider {} (oauth)", provider.name)
        } else {
            format!("provider {}", provider.name)
        });
    }
    lines
}
