//! [`ManagerOptions`]: how the manager supervises, beyond the host
//! configuration's `plugins:` section.

use std::path::PathBuf;
use std::time::Duration;

/// Supervision settings; set through [`PluginManagerBuilder`](crate::PluginManagerBuilder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOptions {
    /// The delay before the first restart of a plugin process that died;
    /// doubled on each failed attempt. Default 200 ms.
    pub restart_initial: Duration,
    /// The longest delay between restart attempts. Default 30 s.
    pub restart_max: Duration,
    /// How often every running plugin's health is polled; zero turns polling
    /// off. Default 10 s.
    pub health_interval: Duration,
    /// How long one health poll may take before it counts as "not ready".
    /// Default 5 s.
    pub health_timeout: Duration,
    /// Where compiled wasm modules are cached (none by default). Never
    /// granted to a plugin.
    pub wasm_cache_dir: Option<PathBuf>,
    /// The host's data folder: each plugin may be granted its own
    /// `plugins/<name>` in it (`$DATA` in a manifest), and nothing else of
    /// it. None by default: manifests asking for `$DATA` are refused.
    pub data_dir: Option<PathBuf>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            restart_initial: Duration::from_millis(200),
            restart_max: Duration::from_secs(30),
            health_interval: Duration::from_secs(10),
            health_timeout: Duration::from_secs(5),
            wasm_cache_dir: None,
            data_dir: None,
        }
    }
}

impl ManagerOptions {
    /// The delay before restart attempt `attempt` (0-based): the initial
    /// delay doubled per attempt, capped at the maximum.
    pub fn restart_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.restart_initial
            .saturating_mul(factor)
            .min(self.restart_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let options = ManagerOptions::default();
        let delays: Vec<_> = (0..10).map(|n| options.restart_delay(n)).collect();
        assert_eq!(delays[0], Duration::from_millis(200));
        assert_eq!(delays[1], Duration::from_millis(400));
        assert_eq!(delays[4], Duration::from_millis(3200));
        assert_eq!(delays[9], Duration::from_secs(30));
        assert_eq!(options.restart_delay(u32::MAX), Duration::from_secs(30));
    }
}
