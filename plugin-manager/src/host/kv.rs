//! [`KvBackend`]: the store behind every plugin's `kv_*` calls, and
//! [`KvStore`], the default one: an embedded database (redb) shared by all
//! plugins of a host. With the `redis` feature, `RedisKv` keeps the same
//! values in a Redis shared by several hosts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use plugin_core::{ByteSize, HostError};
use redb::{
    Database, ReadableDatabase as _, ReadableTable as _, TableDefinition, TableError,
    TableHandle as _,
};

/// One table keyed by `(plugin, key)`: a plugin's namespace is the keys with
/// its name first, so no plugin can reach another's values.
const TABLE: TableDefinition<'static, (&str, &str), &[u8]> = TableDefinition::new("plugin_kv");

/// Bytes each plugin stores (keys plus values), kept in the same
/// transaction as every write so it is always exact.
const USAGE: TableDefinition<'static, &str, u64> = TableDefinition::new("plugin_kv_usage");

/// Limits on what one plugin may keep in the [`KvStore`]. A write past any
/// of them fails with a clear error and changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLimits {
    /// Longest key, in bytes. Default 1 KiB.
    pub max_key_bytes: usize,
    /// Largest value, in bytes. Default 1 MiB.
    pub max_value_bytes: usize,
    /// Keys plus values one plugin may store in all. Default 64 MiB.
    pub max_plugin_bytes: u64,
}

impl Default for KvLimits {
    fn default() -> Self {
        Self {
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_plugin_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The file name of the database in the host's data folder.
pub const KV_FILE_NAME: &str = "kv.redb";

/// A durable key-value store namespaced per plugin.
///
/// Every write is committed (and synced to disk) before it returns, so a
/// value written survives a crash or restart of the host. Operations run on
/// tokio's blocking pool; writes queue for it one at a time, so no plugin
/// can fill the pool with waiting writers. The file is locked while open: a
/// second host on the same data folder gets a clear error instead of corrupting it.
///
/// Each plugin's keys, values and total are bounded by [`KvLimits`].
#[derive(Clone)]
pub struct KvStore {
    db: Arc<Database>,
    /// One write at a time on the blocking pool: redb runs one write
    /// transaction at a time anyway, and writers waiting here wait as tasks,
    /// in order, not as blocked threads, so no plugin can fill the pool.
    writer: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
    limits: KvLimits,
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Where plugins' KV values live: one namespace per plugin name, each held
/// to [`KvLimits`] (checked and counted in the same atomic step as the
/// write, so the total is exact), a write acknowledged only once stored.
///
/// [`KvStore`] (redb, embedded) is the default; `RedisKv` (the `redis`
/// feature) is shared by several hosts.
#[async_trait]
pub trait KvBackend: Send + Sync + std::fmt::Debug {
    /// What errors name: `redb at PATH`, `redis at HOST:PORT`.
    fn describe(&self) -> String;
    /// The value of `key` in `plugin`'s namespace.
    async fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// Sets `key` in `plugin`'s namespace within `limits`; a write past any
    /// of them fails and changes nothing.
    async fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        limits: KvLimits,
    ) -> Result<(), HostError>;
    /// Removes `key` from `plugin`'s namespace (an absent key is fine).
    async fn delete(&self, plugin: &str, key: &str) -> Result<(), HostError>;
    /// Bytes (keys plus values) `plugin` stores.
    async fn usage(&self, plugin: &str) -> Result<u64, HostError>;
}

/// Why a KV store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("KV store {backend}: {message}")]
pub struct KvOpenError {
    backend: String,
    message: String,
}

impl KvOpenError {
    /// An error opening `backend` (as [`KvBackend::describe`] names it).
    pub fn new(backend: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            backend: backend.into(),
            message: message.into(),
        }
    }
}

fn failed(error: impl std::fmt::Display) -> HostError {
    HostError::Failed(format!("KV store: {error}").into())
}

impl KvStore {
    /// Opens (or creates) the store in `data_dir`, creating the folder.
    pub fn open(data_dir: &Path) -> Result<Self, KvOpenError> {
        let path = data_dir.join(KV_FILE_NAME);
        let error = |message: String| KvOpenError::new(path.display().to_string(), message);
        std::fs::create_dir_all(data_dir).map_err(|e| error(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                error("already in use by another host (or another store in this one)".into())
            }
            other => error(other.to_string()),
        })?;
        count_usage(&db).map_err(|e| error(e.to_string()))?;
        Ok(Self {
            db: Arc::new(db),
            writer: Arc::new(tokio::sync::Semaphore::new(1)),
            path,
            limits: KvLimits::default(),
        })
    }

    /// Applies `limits` to writes from now on.
    pub fn with_limits(mut self, limits: KvLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits writes are held to.
    pub fn limits(&self) -> KvLimits {
        self.limits
    }

    /// Bytes (keys plus values) `plugin` stores.
    pub async fn usage(&self, plugin: &str) -> Result<u64, HostError> {
        let plugin = plugin.to_owned();
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(failed)?;
            let table = tx.open_table(USAGE).map_err(failed)?;
            let used = table.get(plugin.as_str()).map_err(failed)?;
            Ok(used.map_or(0, |v| v.value()))
        })
        .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, HostError> + Send + 'static,
    ) -> Result<T, HostError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || op(&db))
            .await
            .map_err(failed)?
    }

    /// Runs a write transaction once the writes queued before it are done.
    async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Database) -> Result<T, HostError> + Send + 'static,
    ) -> Result<T, HostError> {
        let _turn = self.writer.acquire().await.map_err(failed)?;
        self.blocking(op).await
    }

    /// The value of `key` in `plugin`'s namespace.
    pub async fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let (plugin, key) = (plugin.to_owned(), key.to_owned());
        self.blocking(move |db| {
            let tx = db.begin_read().map_err(failed)?;
            let table = match tx.open_table(TABLE) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(failed(e)),
            };
            let value = table.get((plugin.as_str(), key.as_str())).map_err(failed)?;
            Ok(value.map(|v| v.value().to_vec()))
        })
        .await
    }

    /// Sets `key` in `plugin`'s namespace, durably, within the limits.
    pub async fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
        self.set_within(plugin, key, value, self.limits).await
    }

    /// Sets `key` in `plugin`'s namespace, durably, within `limits`.
    async fn set_within(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        limits: KvLimits,
    ) -> Result<(), HostError> {
        check_sizes(key, value, limits)?;
        let (plugin, key, value) = (plugin.to_owned(), key.to_owned(), value.to_vec());
        self.write(move |db| {
            let tx = db.begin_write().map_err(failed)?;
            {
                let mut table = tx.open_table(TABLE).map_err(failed)?;
                let mut usage = tx.open_table(USAGE).map_err(failed)?;
                let entry = (plugin.as_str(), key.as_str());
                let old = table
                    .get(entry)
                    .map_err(failed)?
                    .map_or(0, |v| size(&key, v.value()));
                let used = usage
                    .get(plugin.as_str())
                    .map_err(failed)?
                    .map_or(0, |v| v.value());
                let after = used.saturating_sub(old) + size(&key, &value);
                if after > limits.max_plugin_bytes {
                    return Err(over_quota(&plugin, limits, used, after));
                }
                table.insert(entry, value.as_slice()).map_err(failed)?;
                usage.insert(plugin.as_str(), after).map_err(failed)?;
            }
            tx.commit().map_err(failed)
        })
        .await
    }

    /// Removes `key` from `plugin`'s namespace (an absent key is fine).
    pub async fn delete(&self, plugin: &str, key: &str) -> Result<(), HostError> {
        let (plugin, key) = (plugin.to_owned(), key.to_owned());
        self.write(move |db| {
            let tx = db.begin_write().map_err(failed)?;
            {
                let mut table = tx.open_table(TABLE).map_err(failed)?;
                let removed = table
                    .remove((plugin.as_str(), key.as_str()))
                    .map_err(failed)?
                    .map(|v| size(&key, v.value()));
                if let Some(removed) = removed {
                    let mut usage = tx.open_table(USAGE).map_err(failed)?;
                    let used = usage
                        .get(plugin.as_str())
                        .map_err(failed)?
                        .map_or(0, |v| v.value());
                    usage
                        .insert(plugin.as_str(), used.saturating_sub(removed))
                        .map_err(failed)?;
                }
            }
            tx.commit().map_err(failed)
        })
        .await
    }
}

#[async_trait]
impl KvBackend for KvStore {
    fn describe(&self) -> String {
        format!("redb at {}", self.path.display())
    }

    async fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        KvStore::get(self, plugin, key).await
    }

    async fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        limits: KvLimits,
    ) -> Result<(), HostError> {
        self.set_within(plugin, key, value, limits).await
    }

    async fn delete(&self, plugin: &str, key: &str) -> Result<(), HostError> {
        KvStore::delete(self, plugin, key).await
    }

    async fn usage(&self, plugin: &str) -> Result<u64, HostError> {
        KvStore::usage(self, plugin).await
    }
}

/// What one entry counts against its plugin's quota.
pub(crate) fn size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// Refuses a key or value over its limit (every backend, before the write).
pub(crate) fn check_sizes(key: &str, value: &[u8], limits: KvLimits) -> Result<(), HostError> {
    if key.len() > limits.max_key_bytes {
        return Err(too_long("key", key.len(), limits.max_key_bytes));
    }
    if value.len() > limits.max_value_bytes {
        return Err(too_long("value", value.len(), limits.max_value_bytes));
    }
    Ok(())
}

/// The refusal of a write that would take `plugin` past its quota.
pub(crate) fn over_quota(plugin: &str, limits: KvLimits, used: u64, after: u64) -> HostError {
    HostError::PermissionDenied(format!(
        "KV quota of {} for plugin {plugin} reached: it stores {}, and this write would make it {}",
        ByteSize(limits.max_plugin_bytes),
        ByteSize(used),
        ByteSize(after)
    ))
}

fn too_long(what: &str, len: usize, max: usize) -> HostError {
    HostError::InvalidRequest(format!(
        "KV {what} of {} is over the limit of {}",
        ByteSize(len as u64),
        ByteSize(max as u64)
    ))
}

/// Makes sure the usage table exists; a database written before it existed
/// has its usage counted from the values once.
fn count_usage(db: &Database) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    {
        let missing = !tx.list_tables()?.any(|table| table.name() == USAGE.name());
        let mut usage = tx.open_table(USAGE)?;
        if missing {
            let table = tx.open_table(TABLE)?;
            let mut totals = std::collections::BTreeMap::<String, u64>::new();
            for entry in table.iter()? {
                let (key, value) = entry?;
                let (plugin, key) = key.value();
                *totals.entry(plugin.to_owned()).or_default() += size(key, value.value());
            }
            for (plugin, total) in totals {
                usage.insert(plugin.as_str(), total)?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_values_and_each_plugins_total_are_limited() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(dir.path()).unwrap().with_limits(KvLimits {
            max_key_bytes: 8,
            max_value_bytes: 10,
            max_plugin_bytes: 20,
        });
        let err = store.set("a", "123456789", b"v").await.unwrap_err();
        assert!(
            matches!(&err, HostError::InvalidRequest(m) if m.contains("KV key of 9B is over the limit of 8B")),
            "{err}"
        );
        let err = store.set("a", "k", &[0; 11]).await.unwrap_err();
        assert!(
            matches!(&err, HostError::InvalidRequest(m) if m.contains("value")),
            "{err}"
        );

        store.set("a", "k1", &[1; 10]).await.unwrap(); // 12 bytes
        assert_eq!(store.usage("a").await.unwrap(), 12);
        let err = store.set("a", "k2", &[2; 8]).await.unwrap_err(); // would be 22
        assert!(
            matches!(&err, HostError::PermissionDenied(m) if m.contains("KV quota of 20B for plugin a")),
            "{err}"
        );
        assert_eq!(store.get("a", "k2").await.unwrap(), None, "nothing written");
        // Another plugin has its own quota.
        store.set("b", "k2", &[2; 8]).await.unwrap();
        // Overwriting counts the difference; deleting gives the room back.
        store.set("a", "k1", &[1; 2]).await.unwrap();
        assert_eq!(store.usage("a").await.unwrap(), 4);
        store.set("a", "k2", &[2; 8]).await.unwrap();
        assert_eq!(store.usage("a").await.unwrap(), 14);
        store.delete("a", "k1").await.unwrap();
        store.delete("a", "k1").await.unwrap();
        assert_eq!(store.usage("a").await.unwrap(), 10);
        assert_eq!(store.usage("b").await.unwrap(), 10);
    }

    #[tokio::test]
    async fn a_database_from_before_usage_was_kept_is_counted_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join(KV_FILE_NAME)).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut table = tx.open_table(TABLE).unwrap();
                table.insert(("a", "k"), &b"12345"[..]).unwrap();
                table.insert(("a", "kk"), &b"1"[..]).unwrap();
                table.insert(("b", "k"), &b""[..]).unwrap();
            }
            tx.commit().unwrap();
        }
        let store = KvStore::open(dir.path()).unwrap();
        assert_eq!(store.usage("a").await.unwrap(), 9);
        assert_eq!(store.usage("b").await.unwrap(), 1);
        assert_eq!(store.usage("c").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn values_are_namespaced_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = KvStore::open(dir.path()).unwrap();
        assert_eq!(store.get("a", "k").await.unwrap(), None, "fresh store");
        store.set("a", "k", b"1").await.unwrap();
        store.set("b", "k", b"2").await.unwrap();
        assert_eq!(
            store.get("a", "k").await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(
            store.get("b", "k").await.unwrap().as_deref(),
            Some(&b"2"[..])
        );

        let again = KvStore::open(dir.path()).unwrap_err();
        assert!(again.to_string().contains("already in use"), "{again}");

        drop(store);
        let store = KvStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get("a", "k").await.unwrap().as_deref(),
            Some(&b"1"[..])
        );
        store.delete("a", "k").await.unwrap();
        store.delete("a", "k").await.unwrap();
        assert_eq!(store.get("a", "k").await.unwrap(), None);
        assert_eq!(
            store.get("b", "k").await.unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }
}
