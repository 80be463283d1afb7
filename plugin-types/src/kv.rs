//! The `plugins.kv` section: where the default host keeps plugins' KV
//! values (the embedded redb file, or a Redis shared by several hosts).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default for [`KvSettings::timeout`]: 2 seconds.
pub const DEFAULT_KV_TIMEOUT: Duration = Duration::from_secs(2);

/// Which store the default host's KV calls use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvBackendKind {
    /// The embedded redb file in the host's data folder (the default).
    #[default]
    Redb,
    /// A Redis server (`url`), shared by every host configured with it.
    Redis,
}

/// `plugins.kv`: the default host's KV backend.
///
/// `Debug` shows the URL with its password replaced by `***`: the
/// connection is an operator's secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KvSettings {
    /// `redb` (default) or `redis`.
    pub backend: KvBackendKind,
    /// For `redis`: `redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]`,
    /// `rediss://…` for TLS, or `redis+unix:///PATH`.
    /// Written out (serialized) with its password replaced by `***`, like
    /// `Debug`: a configuration shown or saved never carries the secret.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_redacted"
    )]
    pub url: Option<String>,
    /// For `redis`: put before every key, so deployments sharing one Redis
    /// stay apart (default `flowbot:`).
    pub prefix: String,
    /// For `redis`: the environment variable holding the password (it
    /// replaces any password in `url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// For `redis`: how long a KV call may take before it fails (default 2s).
    #[serde(with = "crate::duration::serde_str")]
    pub timeout: Duration,
    /// For `rediss://`: the CA certificates (PEM) the server's certificate
    /// must chain to, instead of the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// For `rediss://` with client certificates: the host's certificate
    /// (PEM), with `key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// The private key (PEM) of `cert_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

impl Default for KvSettings {
    fn default() -> Self {
        Self {
            backend: KvBackendKind::Redb,
            url: None,
            prefix: "flowbot:".into(),
            password_env: None,
            timeout: DEFAULT_KV_TIMEOUT,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }
    }
}

impl std::fmt::Debug for KvSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvSettings")
            .field("backend", &self.backend)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("prefix", &self.prefix)
            .field("password_env", &self.password_env)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// Serializes a URL with its password replaced by `***`.
fn serialize_redacted<S: serde::Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&redact_url(url)),
        None => serializer.serialize_none(),
    }
}

/// `url` with the password of its user information (`user:PASSWORD@`, or a
/// lone `PASSWORD@`) replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let user = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{user}{}", &url[..scheme_end + 3], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redact_url("redis://app:s3cret@10.0.0.1:6379/0"),
            "redis://app:***@10.0.0.1:6379/0"
        );
        assert_eq!(redact_url("rediss://s3cret@h/1"), "rediss://***@h/1");
        assert_eq!(redact_url("redis://h:6379/0"), "redis://h:6379/0");
        assert_eq!(redact_url("redis://h/a@b"), "redis://h/a@b");
        let settings = KvSettings {
            url: Some("redis://app:s3cret@10.0.0.1:6379/0".into()),
            ..KvSettings::default()
        };
        let written = serde_json::to_string(&settings).unwrap();
        assert!(!written.contains("s3cret"), "{written}");
        let settings = KvSettings {
            backend: KvBackendKind::Redis,
            url: Some("redis://:s3cret@127.0.0.1/0".into()),
            ..KvSettings::default()
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("127.0.0.1"), "{debug}");
    }

    #[test]
    fn reads_the_section() {
        let settings: KvSettings = serde_json::from_value(serde_json::json!({
            "backend": "redis", "url": "redis://127.0.0.1:6379/0",
            "prefix": "a:", "password_env": "REDIS_PASSWORD", "timeout": "500ms"
        }))
        .unwrap();
        assert_eq!(settings.backend, KvBackendKind::Redis);
        assert_eq!(settings.timeout, Duration::from_millis(500));
        assert_eq!(
            serde_json::from_value::<KvSettings>(serde_json::json!({})).unwrap(),
            KvSettings::default()
        );
    }
}
