//! [`Registry`]: the one thread-safe, owner-checked map behind every
//! in-memory registry of this crate.

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::error::AdapterError;

/// Entries by key, each owned by the plugin that registered it.
///
/// Invariants: a key has at most one owner; registering a taken key fails
/// naming both plugins (even the same plugin twice: a reload swaps runners,
/// it does not re-register); only the owner can unregister its entry.
#[derive(Debug)]
pub struct Registry<V> {
    what: &'static str,
    entries: RwLock<BTreeMap<String, (String, V)>>,
}

impl<V: Clone> Registry<V> {
    /// An empty registry of `what` (named in conflict errors).
    pub fn new(what: &'static str) -> Self {
        Self {
            what,
            entries: RwLock::new(BTreeMap::new()),
        }
    }

    /// Adds `value` under `key` for `plugin`.
    pub fn register(&self, key: &str, plugin: &str, value: V) -> Result<(), AdapterError> {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if let Some((existing, _)) = entries.get(key) {
            return Err(AdapterError::Conflict {
                what: self.what,
                key: key.to_owned(),
                existing: existing.clone(),
                new: plugin.to_owned(),
            });
        }
        entries.insert(key.to_owned(), (plugin.to_owned(), value));
        Ok(())
    }

    /// Removes `key` if `plugin` owns it; says whether it did.
    pub fn unregister(&self, key: &str, plugin: &str) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((owner, _)) if owner == plugin => entries.remove(key).is_some(),
            _ => false,
        }
    }

    /// The entry under `key`.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(key).map(|(_, value)| value.clone())
    }

    /// Every `(key, owner)`, sorted by key.
    pub fn list(&self) -> Vec<(String, String)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .map(|(key, (owner, _))| (key.clone(), owner.clone()))
            .collect()
    }
}
