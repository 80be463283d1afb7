//! Reading a host configuration file: the [`PluginConfig`] shape, or a
//! flowbot-style file whose top-level `plugins:` section is one.

use std::path::{Path, PathBuf};

use plugin_core::yaml::{self, YamlError};
use plugin_types::PluginConfig;
use serde_json::Value;

/// Why a host configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostConfigError {
    /// The file could not be read or is not YAML.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: YamlError,
    },
    /// A field has the wrong shape.
    #[error("{}: {field}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the `plugins` section (`sources[0].type`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads the host configuration at `path` (YAML or JSON).
///
/// A file with a top-level `plugins:` mapping is a flowbot-style host
/// configuration: that section is the plugin configuration and the other
/// sections are the host's own business. Otherwise the whole file is the
/// plugin configuration. Unknown fields in it are errors.
pub fn read(path: &Path) -> Result<PluginConfig, HostConfigError> {
    let value = yaml::read_value(path).map_err(|source| HostConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(value).map_err(|(field, message)| HostConfigError::Invalid {
        path: path.to_path_buf(),
        field,
        message,
    })
}

/// Interprets a parsed configuration document; errors are (field, message).
fn parse(value: Value) -> Result<PluginConfig, (String, String)> {
    let (prefix, section) = match value {
        Value::Null => return Ok(PluginConfig::default()),
        Value::Object(mut map) if map.get("plugins").is_some_and(Value::is_object) => {
            ("plugins.", map.remove("plugins").unwrap_or_default())
        }
        other => ("", other),
    };
    serde_path_to_error::deserialize(section).map_err(|e| {
        let field = match e.path().to_string() {
            path if path == "." => prefix.trim_end_matches('.').to_owned(),
            path => format!("{prefix}{path}"),
        };
        (field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_both_shapes() {
        let bare = parse(json!({"enabled": true, "max_plugins": 3})).unwrap();
        assert!(bare.enabled);
        assert_eq!(bare.max_plugins, 3);
        let flowbot = parse(json!({
            "http": {"port": 8080},
            "plugins": {"enabled": true, "config": {"p": {"k": 1}}}
        }))
        .unwrap();
        assert!(flowbot.enabled);
        assert_eq!(flowbot.config["p"]["k"], 1);
        assert_eq!(parse(Value::Null).unwrap(), PluginConfig::default());
    }

    #[test]
    fn the_kv_backend_is_read_from_the_plugins_section() {
        let config = parse(json!({"plugins": {"kv": {
            "backend": "redis", "url": "redis://127.0.0.1:6379/0",
            "prefix": "flowbot:", "password_env": "REDIS_PASSWORD"
        }}}))
        .unwrap();
        assert_eq!(config.kv.backend, plugin_types::KvBackendKind::Redis);
        assert_eq!(config.kv.password_env.as_deref(), Some("REDIS_PASSWORD"));
        let (field, message) = parse(json!({"kv": {"backend": "etcd"}})).unwrap_err();
        assert_eq!(field, "kv.backend");
        assert!(
            message.contains("redb") && message.contains("redis"),
            "{message}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let (field, message) =
            parse(json!({"plugins": {"sources": [{"type": "local", "paht": "x"}]}})).unwrap_err();
        assert_eq!(field, "plugins.sources[0].paht");
        assert!(message.contains("unknown field `paht`"), "{message}");
        let (field, _) = parse(json!({"drain_timeout": "soon"})).unwrap_err();
        assert_eq!(field, "drain_timeout");
    }

    #[test]
    fn a_git_source_is_refused_naming_its_field() {
        // No git source exists: its fields are not part of the format (and
        // `type: git` alone is refused at start, listing `local`).
        let (field, message) = parse(json!({"plugins": {"sources": [
            {"type": "git", "repos": [{"url": "https://example.invalid/p.git"}]}
        ]}}))
        .unwrap_err();
        assert_eq!(field, "plugins.sources[0].repos");
        assert!(message.contains("unknown field `repos`"), "{message}");
    }
}
