//! [`RedisKv`]: plugins' KV values in a Redis shared by several hosts.

use std::time::Duration;

use async_trait::async_trait;
use plugin_core::HostError;
use plugin_types::KvSettings;
use plugin_types::kv::redact_url;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo as _, Script};

use super::kv::{KvBackend, KvLimits, KvOpenError, check_sizes, over_quota};

/// Sets a value and its plugin's usage in one step, on the server, so hosts
/// writing at once keep the total exact. KEYS: value, usage. ARGV: value,
/// key length, quota. Returns {1, used, after} when written, {0, used,
/// after} when the quota refuses it (nothing changed).
const SET: &str = r"
local old = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  old = redis.call('STRLEN', KEYS[1]) + tonumber(ARGV[2])
end
local stored = redis.call('GET', KEYS[2])
local used = 0
if stored then used = tonumber(stored) end
local after = used - old
if after < 0 then after = 0 end
after = after + tonumber(ARGV[2]) + string.len(ARGV[1])
if after > tonumber(ARGV[3]) then
  return {0, used, after}
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], after)
return {1, used, after}
";

/// Deletes a value and gives its room back, in one step. KEYS: value,
/// usage. ARGV: key length.
const DELETE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local removed = redis.call('STRLEN', KEYS[1]) + tonumber(ARGV[1])
redis.call('DEL', KEYS[1])
local stored = redis.call('GET', KEYS[2])
local used = 0
if stored then used = tonumber(stored) end
local after = used - removed
if after < 0 then after = 0 end
redis.call('SET', KEYS[2], after)
return 1
";

/// Plugins' KV values in Redis (`kv: {backend: redis}`): the same
/// namespaces and [`KvLimits`] as the embedded store, kept exact across
/// hosts by scripts run on the server (EVALSHA), each write acknowledged
/// once Redis acknowledged it.
///
/// Keys are `PREFIX` `kv:` then the plugin's name, length-prefixed, then
/// the key in hex: deployments with distinct prefixes share one Redis, and
/// no key of one plugin names another's. One multiplexed connection
/// reconnects by itself; every call fails after the configured timeout
/// with an error naming the backend (`kv backend redis at HOST:PORT`).
/// Neither errors nor `Debug` show the password.
#[derive(Clone)]
pub struct RedisKv {
    connection: ConnectionManager,
    /// `redis at HOST:PORT` (no user information).
    name: String,
    /// The password, to scrub from errors if the client ever repeats it.
    secret: Option<String>,
    prefix: String,
    timeout: Duration,
    set: Script,
    delete: Script,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("backend", &self.name)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    /// A client for the Redis `settings` name (`url`, `password_env`,
    /// `prefix`, `timeout`). It connects on first use and reconnects by
    /// itself; Redis being down now is not an error, a bad URL or a
    /// missing password variable is.
    pub async fn connect(settings: &KvSettings) -> Result<Self, KvOpenError> {
        let Some(url) = settings.url.as_deref() else {
            return Err(KvOpenError::new(
                "redis",
                "kv.url is required with kv.backend: redis (redis://HOST:PORT/DB)",
            ));
        };
        let shown = redact_url(url);
        // The URL's password, as written and decoded, never reaches an error.
        let in_url = url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_owned))
            .filter(|p| !p.is_empty());
        let scrub = |message: String| {
            let mut message = message.replace(url, &shown);
            if let Some(password) = &in_url {
                message = message.replace(password.as_str(), "***");
            }
            message
        };
        let mut info = url
            .into_connection_info()
            .map_err(|e| KvOpenError::new(format!("redis at {shown}"), scrub(e.to_string())))?;
        let name = match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("redis at {host}:{port}"),
            ConnectionAddr::TcpTls { host, port, .. } => format!("redis at {host}:{port} (TLS)"),
            ConnectionAddr::Unix(path) => format!("redis at unix:{}", path.display()),
            _ => format!("redis at {shown}"),
        };
        if let Some(var) = &settings.password_env {
            let password = std::env::var(var).map_err(|_| {
                KvOpenError::new(
                    name.clone(),
                    format!("kv.password_env names {var}, which is not set"),
                )
            })?;
            let redis = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(redis);
        }
        let secret = info
            .redis_settings()
            .password()
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        let scrub = |message: String| match &secret {
            Some(secret) => scrub(message).replace(secret.as_str(), "***"),
            None => scrub(message),
        };
        let client =
            client(info, settings).map_err(|e| KvOpenError::new(name.clone(), scrub(e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| KvOpenError::new(name.clone(), scrub(e.to_string())))?;
        Ok(Self {
            connection,
            name,
            secret,
            prefix: settings.prefix.clone(),
            timeout: settings.timeout,
            set: Script::new(SET),
            delete: Script::new(DELETE),
        })
    }

    /// The key holding `key` of `plugin`.
    fn value_key(&self, plugin: &str, key: &str) -> String {
        let mut out = format!("{}kv:{}:{plugin}:k:", self.prefix, plugin.len());
        for byte in key.as_bytes() {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// The key holding `plugin`'s usage in bytes.
    fn usage_key(&self, plugin: &str) -> String {
        format!("{}kv:{}:{plugin}:usage", self.prefix, plugin.len())
    }

    /// An error naming this backend, without the password.
    fn failed(&self, error: impl std::fmt::Display) -> HostError {
        let mut message = error.to_string();
        if let Some(secret) = &self.secret {
            message = message.replace(secret.as_str(), "***");
        }
        HostError::Failed(format!("kv backend {}: {message}", self.name).into())
    }

    /// Runs `op` on the connection, failing after the timeout.
    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, HostError> {
        let mut connection = self.connection.clone();
        match tokio::time::timeout(self.timeout, op(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.failed(e)),
            Err(_) => Err(self.failed(format_args!(
                "no answer within {}",
                plugin_types::duration::format(self.timeout)
            ))),
        }
    }
}

/// The client for `info`: over TLS (`rediss://`) with the configured CA
/// and client certificate, if any.
fn client(info: redis::ConnectionInfo, settings: &KvSettings) -> Result<redis::Client, String> {
    if !matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
        if let Some(field) = [
            ("ca_file", &settings.ca_file),
            ("cert_file", &settings.cert_file),
            ("key_file", &settings.key_file),
        ]
        .iter()
        .find_map(|(field, value)| value.is_some().then_some(field))
        {
            return Err(format!("kv.{field} needs a rediss:// URL (TLS)"));
        }
        return redis::Client::open(info).map_err(|e| e.to_string());
    }
    // redis-rs builds its TLS configuration with rustls' process default,
    // which must be chosen when more than one provider is compiled in.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let read = |field: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("kv.{field} {}: {e}", path.display()))
    };
    let root_cert = match &settings.ca_file {
        Some(path) => Some(read("ca_file", path)?),
        None => None,
    };
    let client_tls = match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read("cert_file", cert)?,
            client_key: read("key_file", key)?,
        }),
        (None, None) => None,
        _ => return Err("kv.cert_file and kv.key_file go together".into()),
    };
    if root_cert.is_none() && client_tls.is_none() {
        return redis::Client::open(info).map_err(|e| e.to_string());
    }
    redis::Client::build_with_tls(
        info,
        redis::TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(|e| e.to_string())
}

#[async_trait]
impl KvBackend for RedisKv {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let key = self.value_key(plugin, key);
        self.run(async |c| redis::cmd("GET").arg(&key).query_async(c).await)
            .await
    }

    async fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        limits: KvLimits,
    ) -> Result<(), HostError> {
        check_sizes(key, value, limits)?;
        let (value_key, usage_key) = (self.value_key(plugin, key), self.usage_key(plugin));
        let (written, used, after): (i64, i64, i64) = self
            .run(async |c| {
                self.set
                    .key(&value_key)
                    .key(&usage_key)
                    .arg(value)
                    .arg(key.len())
                    .arg(limits.max_plugin_bytes)
                    .invoke_async(c)
                    .await
            })
            .await?;
        if written == 1 {
            Ok(())
        } else {
            let (used, after) = (used.max(0) as u64, after.max(0) as u64);
            Err(over_quota(plugin, limits, used, after))
        }
    }

    async fn delete(&self, plugin: &str, key: &str) -> Result<(), HostError> {
        let (value_key, usage_key) = (self.value_key(plugin, key), self.usage_key(plugin));
        let _: i64 = self
            .run(async |c| {
                self.delete
                    .key(&value_key)
                    .key(&usage_key)
                    .arg(key.len())
                    .invoke_async(c)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn usage(&self, plugin: &str) -> Result<u64, HostError> {
        let key = self.usage_key(plugin);
        let used: Option<u64> = self
            .run(async |c| redis::cmd("GET").arg(&key).query_async(c).await)
            .await?;
        Ok(used.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_unambiguous_per_plugin() {
        let kv = RedisKv::connect(&KvSettings {
            backend: plugin_types::KvBackendKind::Redis,
            url: Some("redis://127.0.0.1:1/0".into()),
            prefix: "d1:".into(),
            ..KvSettings::default()
        })
        .await
        .unwrap();
        assert_eq!(kv.value_key("ab", "c"), "d1:kv:2:ab:k:63");
        // A plugin named to look like another's key path gets its own keys.
        assert_ne!(kv.value_key("a", "b:k:"), kv.value_key("a:k:62", ""));
        assert_eq!(kv.usage_key("ab"), "d1:kv:2:ab:usage");
    }
}
