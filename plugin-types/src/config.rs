//! The `plugins:` section of a host configuration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kv::KvSettings;
use crate::permissions::PermissionPolicy;
use crate::size::ByteSize;

/// Default for [`PluginConfig::drain_timeout`]: 30 seconds.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`PluginConfig::max_plugins`].
pub const DEFAULT_MAX_PLUGINS: usize = 50;

/// How a host finds, configures and supervises its plugins.
///
/// Missing fields take the defaults of [`PluginConfig::default`]: disabled,
/// no sources, hot reload on, a 30 s drain timeout and at most 50 plugins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginConfig {
    /// Whether the plugin system runs at all.
    pub enabled: bool,
    /// Where plugins come from, in priority order.
    pub sources: Vec<SourceConfig>,
    /// Per-plugin configuration, keyed by plugin name; each value is checked
    /// against that plugin's `config_schema` and handed to it on start.
    pub config: BTreeMap<String, serde_json::Value>,
    /// Reload plugins when their files change.
    pub hot_reload: bool,
    /// How long an unload or reload waits for in-flight calls to finish.
    #[serde(with = "crate::duration::serde_str")]
    pub drain_timeout: Duration,
    /// The most plugins loaded at once.
    pub max_plugins: usize,
    /// What the host grants plugins; a manifest asking for more is refused.
    /// The default grants what a manifest asks within the plugin's own
    /// folders, HTTP to public addresses, and `plugin-core`'s limits.
    #[serde(skip_serializing_if = "is_default")]
    pub permissions: PermissionPolicy,
    /// How wasm plugins are run (`plugins.wasm`).
    #[serde(skip_serializing_if = "is_default")]
    pub wasm: WasmSettings,
    /// Where the default host keeps plugins' KV values (`plugins.kv`).
    #[serde(skip_serializing_if = "is_default")]
    pub kv: KvSettings,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// How wasm plugins are run: the `plugins.wasm` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WasmSettings {
    /// Run core-module plugins on wasmtime's pooling allocator with this
    /// capacity (off by default: each instance is mapped on demand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooling: Option<WasmPooling>,
}

/// `plugins.wasm.pooling`: the pooling allocator's capacity, shared by all
/// wasm plugins; each reserves its `wasm.pool.max_instances` at load, and
/// a plugin that does not fit is refused. `plugin_wasm::WasmEngine::pooling`
/// takes it as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WasmPooling {
    /// Instances alive at once over all plugins (default 128).
    pub instances: u32,
    /// The largest `wasm.permissions.memory.max` a plugin may ask (default
    /// 4GiB). Each slot reserves this much address space, not memory.
    pub max_memory: ByteSize,
}

impl Default for WasmPooling {
    fn default() -> Self {
        Self {
            instances: 128,
            max_memory: ByteSize::gib(4),
        }
    }
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            sources: Vec::new(),
            config: BTreeMap::new(),
            hot_reload: true,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_plugins: DEFAULT_MAX_PLUGINS,
            permissions: PermissionPolicy::default(),
            wasm: WasmSettings::default(),
            kv: KvSettings::default(),
        }
    }
}

/// One place plugins are distributed from: an entry of `sources:`.
///
/// Only `type: local` is implemented; an embedder adds sources of its own
/// as values (`PluginManagerBuilder::source` in `plugin-manager`), not here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// The source type: `local`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `local`: the folder holding one sub-folder per plugin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

impl SourceConfig {
    /// `type: local` at `path`: a folder holding one sub-folder per plugin.
    pub fn local(path: impl Into<PathBuf>) -> Self {
        Self {
            kind: "local".into(),
            path: Some(path.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original() {
        let config = PluginConfig::default();
        assert!(!config.enabled);
        assert!(config.hot_reload);
        assert_eq!(config.drain_timeout, Duration::from_secs(30));
        assert_eq!(config.max_plugins, 50);
        // An empty document is the defaults.
        let parsed: PluginConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, config);
    }

    fn sample() -> PluginConfig {
        PluginConfig {
            enabled: true,
            sources: vec![
                SourceConfig::local("plugins"),
                SourceConfig::local("more-plugins"),
            ],
            config: BTreeMap::from([(
                "echo".to_owned(),
                serde_json::json!({"greeting": "hi", "retries": 3}),
            )]),
            hot_reload: false,
            drain_timeout: Duration::from_secs(90),
            max_plugins: 7,
            permissions: PermissionPolicy::default(),
            wasm: WasmSettings {
                pooling: Some(WasmPooling {
                    instances: 16,
                    max_memory: ByteSize::mib(256),
                }),
            },
            kv: KvSettings::default(),
        }
    }

    #[test]
    fn round_trips_through_json_and_yaml() {
        let config = sample();
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains(r#""drain_timeout":"1m30s""#), "{json}");
        assert_eq!(serde_json::from_str::<PluginConfig>(&json).unwrap(), config);

        let yaml = serde_saphyr::to_string(&config).unwrap();
        assert!(yaml.contains("drain_timeout: 1m30s"), "{yaml}");
        assert_eq!(
            serde_saphyr::from_str::<PluginConfig>(&yaml).unwrap(),
            config
        );
    }

    #[test]
    fn reads_a_hand_written_yaml_section() {
        let yaml = "
enabled: true
sources:
  - type: local
    path: ./plugins
config:
  echo:
    greeting: hello
drain_timeout: 1m 5s
wasm:
  pooling:
    max_memory: 64MiB
";
        let config: PluginConfig = serde_saphyr::from_str(yaml).unwrap();
        assert!(config.enabled && config.hot_reload);
        assert_eq!(config.drain_timeout, Duration::from_secs(65));
        assert_eq!(
            config.sources[0].path.as_deref(),
            Some("./plugins".as_ref())
        );
        assert_eq!(config.config["echo"]["greeting"], "hello");
        assert_eq!(config.max_plugins, 50);
        let pooling = config.wasm.pooling.unwrap();
        assert_eq!(pooling.max_memory, ByteSize::mib(64));
        assert_eq!(pooling.instances, WasmPooling::default().instances);
        // Absent, the section is off.
        assert_eq!(PluginConfig::default().wasm.pooling, None);
    }

    #[test]
    fn refuses_a_bad_duration_and_unknown_fields() {
        let err = serde_json::from_str::<PluginConfig>(r#"{"drain_timeout": 30}"#).unwrap_err();
        assert!(err.to_string().contains("unit is missing"), "{err}");
        let err = serde_json::from_str::<PluginConfig>(r#"{"hot_reloads": true}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `hot_reloads`"),
            "{err}"
        );
    }

    #[test]
    fn a_git_or_registry_source_is_refused_naming_the_field() {
        // Nothing implements them: their fields are not part of the format.
        let yaml =
            "sources:\n  - type: git\n    repos:\n      - url: https://example.invalid/p.git\n";
        let err = serde_saphyr::from_str::<PluginConfig>(yaml).unwrap_err();
        assert!(err.to_string().contains("unknown field `repos`"), "{err}");
        let json = r#"{"sources": [{"type": "registry", "registry": "https://example.invalid"}]}"#;
        let err = serde_json::from_str::<PluginConfig>(json).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `registry`"),
            "{err}"
        );
        let err = serde_json::from_str::<PluginConfig>(
            r#"{"sources": [{"type": "local", "path": "p", "poll_interval": "5m"}]}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `poll_interval`"),
            "{err}"
        );
    }
}
