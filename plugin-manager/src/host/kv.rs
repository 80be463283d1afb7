//! [`KvStore`]: the durable key-value store behind every plugin's `kv_*`
//! calls, one embedded database (redb) shared by all plugins of a host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugin_core::HostError;
use redb::{Database, ReadableDatabase as _, TableDefinition, TableError};

/// One table keyed by `(plugin, key)`: a plugin's namespace is the keys with
/// its name first, so no plugin can reach another's values.
const TABLE: TableDefinition<'static, (&str, &str), &[u8]> = TableDefinition::new("plugin_kv");

/// The file name of the database in the host's data folder.
pub const KV_FILE_NAME: &str = "kv.redb";

/// A durable key-value store namespaced per plugin.
///
/// Every write is committed (and synced to disk) before it returns, so a
/// value written survives a crash or restart of the host. Operations run on
/// tokio's blocking pool. The file is locked while open: a second host on
/// the same data folder gets a clear error instead of corrupting it.
#[derive(Clone)]
pub struct KvStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl std::fmt::Debug for KvStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvStore").field("path", &self.path).finish()
    }
}

/// Why the KV store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("KV store {}: {message}", path.display())]
pub struct KvOpenError {
    path: PathBuf,
    message: String,
}

fn failed(error: impl std::fmt::Display) -> HostError {
    HostError::Failed(format!("KV store: {error}").into())
}

impl KvStore {
    /// Opens (or creates) the store in `data_dir`, creating the folder.
    pub fn open(data_dir: &Path) -> Result<Self, KvOpenError> {
        let path = data_dir.join(KV_FILE_NAME);
        let error = |message: String| KvOpenError {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| error(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                error("already in use by another host (or another store in this one)".into())
            }
            other => error(other.to_string()),
        })?;
        Ok(Self {
            db: Arc::new(db),
            path,
        })
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

    /// Sets `key` in `plugin`'s namespace, durably.
    pub async fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
        let (plugin, key, value) = (plugin.to_owned(), key.to_owned(), value.to_vec());
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(failed)?;
            tx.open_table(TABLE)
                .map_err(failed)?
                .insert((plugin.as_str(), key.as_str()), value.as_slice())
                .map_err(failed)?;
            tx.commit().map_err(failed)
        })
        .await
    }

    /// Removes `key` from `plugin`'s namespace (an absent key is fine).
    pub async fn delete(&self, plugin: &str, key: &str) -> Result<(), HostError> {
        let (plugin, key) = (plugin.to_owned(), key.to_owned());
        self.blocking(move |db| {
            let tx = db.begin_write().map_err(failed)?;
            tx.open_table(TABLE)
                .map_err(failed)?
                .remove((plugin.as_str(), key.as_str()))
                .map_err(failed)?;
            tx.commit().map_err(failed)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
