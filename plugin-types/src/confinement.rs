//! What confines a plugin process, as applied: one [`Measure`] per
//! mechanism, shown by `pluginctl list` and the admin API.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The confinement in force for one plugin process.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfinementReport {
    /// One entry per thing confined, in a fixed order: environment,
    /// privileges, filesystem, network, memory, processes, files.
    pub measures: Vec<Measure>,
}

/// How one thing is confined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    /// What is confined: `filesystem`, `network`, `memory`, ...
    pub what: String,
    /// By what, and to what: `Landlock ABI 7: ...`, `cgroup v1 memory: 64MiB`.
    pub how: String,
    /// Whether the kernel enforces it; `false` says what is missing.
    pub enforced: bool,
}

impl ConfinementReport {
    /// The measures the kernel does not enforce.
    pub fn missing(&self) -> impl Iterator<Item = &Measure> {
        self.measures.iter().filter(|m| !m.enforced)
    }

    /// The measure for `what`, if there is one.
    pub fn get(&self, what: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.what == what)
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.how)?;
        if !self.enforced {
            f.write_str(" (NOT ENFORCED)")?;
        }
        Ok(())
    }
}
