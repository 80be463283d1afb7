//! Watching a local source: debounced file events, a rescan, and the
//! difference from the last scan as [`SourceEvent`]s.
//!
//! A plugin is identified by its folder. Its state is a fingerprint: the
//! SHA-256 of its manifest and its artifact (module or executable). After
//! each quiet period of the debouncer the folder is scanned again and
//! - a new folder with a valid manifest and a complete artifact is `Added`;
//! - a changed fingerprint is `Updated`;
//! - a folder gone (or no longer holding a `plugin.yaml`) is `Removed`;
//! - a manifest that became invalid is `Broken` (once per distinct error),
//!   and the plugin's last good state is kept, so the host keeps serving it.
//!
//! A half-written artifact is not reported: a wasm module must start with
//! the wasm magic number and an executable must be non-empty, else the
//! plugin is left as it was until the next change completes it. Whatever
//! gets through is still only a candidate: the manager validates a new
//! version before swapping it in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecommendedWatcher;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::scan::scan_folder;
use crate::error::SourceError;
use crate::source::{Discovered, SourceEvent, SourceEvents};

/// What keeps a local watch going; dropping it stops the watching.
struct Watching {
    task: JoinHandle<()>,
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a folder looked like at the last scan.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    fingerprint: [u8; 32],
}

#[derive(Default)]
struct Snapshot {
    plugins: BTreeMap<PathBuf, Seen>,
    /// Broken manifests already reported, by path, with the message.
    broken: BTreeMap<PathBuf, String>,
}

/// Starts watching `root` (a folder of plugin folders), reporting changes
/// after `quiet` without further file events.
pub(super) fn watch(root: &Path, quiet: Duration) -> Result<SourceEvents, SourceError> {
    let io = |e: &dyn std::fmt::Display| SourceError::Io {
        path: root.to_owned(),
        message: e.to_string(),
    };
    let (wake, mut woken) = mpsc::channel::<()>(1);
    let mut debouncer = new_debouncer(quiet, None, move |result: DebounceEventResult| {
        if matches!(&result, Ok(events) if !events.is_empty()) || result.is_err() {
            // Full means a rescan is already due: coalesce.
            let _ = wake.try_send(());
        }
    })
    .map_err(|e| io(&e))?;
    debouncer
        .watch(root, RecursiveMode::Recursive)
        .map_err(|e| io(&e))?;

    let (send, events) = mpsc::channel(64);
    let root = root.to_owned();
    let mut snapshot = Snapshot::default();
    // The first scan sets the baseline: only later changes are events.
    let _ = rescan(&root, &mut snapshot);
    let task = tokio::spawn(async move {
        while woken.recv().await.is_some() {
            let scan_root = root.clone();
            let mut current = std::mem::take(&mut snapshot);
            let Ok((changes, next)) = tokio::task::spawn_blocking(move || {
                let changes = rescan(&scan_root, &mut current);
                (changes, current)
            })
            .await
            else {
                return;
            };
            snapshot = next;
            for change in changes {
                if send.send(change).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(SourceEvents::new(events).with_guard(Watching {
        task,
        _debouncer: debouncer,
    }))
}

/// Scans `root` again and returns what changed since `snapshot`, updating it.
fn rescan(root: &Path, snapshot: &mut Snapshot) -> Vec<SourceEvent> {
    let discovery = scan_folder(root);
    let mut changes = Vec::new();
    let mut present = BTreeMap::new();
    for plugin in discovery.plugins {
        let Some(fingerprint) = fingerprint(&plugin) else {
            // Artifact missing or half-written: keep the last state.
            if let Some(seen) = snapshot.plugins.get(&plugin.location) {
                present.insert(plugin.location.clone(), seen.clone());
            }
            continue;
        };
        let seen = Seen {
            name: plugin.manifest.name.clone(),
            fingerprint,
        };
        match snapshot.plugins.get(&plugin.location) {
            None => changes.push(SourceEvent::Added(plugin.clone())),
            Some(old) if *old != seen => changes.push(SourceEvent::Updated(plugin.clone())),
            Some(_) => {}
        }
        present.insert(plugin.location, seen);
    }
    let mut broken = BTreeMap::new();
    for diagnostic in discovery.diagnostics {
        let dir = diagnostic
            .location
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if let Some(seen) = snapshot.plugins.get(&dir) {
            present.insert(dir, seen.clone());
        }
        let message = diagnostic.error.to_string();
        let path = diagnostic.location.clone();
        if snapshot.broken.get(&path) != Some(&message) {
            changes.push(SourceEvent::Broken(diagnostic));
        }
        broken.insert(path, message);
    }
    for (dir, seen) in &snapshot.plugins {
        if !present.contains_key(dir) {
            changes.push(SourceEvent::Removed {
                location: dir.clone(),
                name: seen.name.clone(),
            });
        }
    }
    snapshot.broken = broken;
    snapshot.plugins = present;
    changes
}

/// The most of an artifact the watcher hashes; a larger one is never
/// fingerprinted (no wasm module is larger, and the host's load refuses
/// it unless its policy allows more).
const MAX_FINGERPRINTED: plugin_core::ByteSize = plugin_core::ByteSize::gib(4);

/// What is streamed through it: hashed, counted, its first bytes kept.
struct Digest {
    hasher: Sha256,
    head: Vec<u8>,
    len: u64,
}

impl std::io::Write for Digest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = 8usize.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..room.min(buf.len())]);
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// SHA-256 of the manifest and the artifact; `None` while the artifact is
/// missing or incomplete, or is no regular file (a FIFO is never opened
/// for long, `/dev/zero` never read: see [`plugin_core::Artifact`]).
fn fingerprint(plugin: &Discovered) -> Option<[u8; 32]> {
    let manifest =
        plugin_core::yaml::read_text(&plugin.location.join(plugin_core::MANIFEST_FILE_NAME))
            .ok()?;
    let (artifact, is_wasm, field) = match (&plugin.manifest.wasm, &plugin.manifest.grpc) {
        (Some(wasm), _) => (&wasm.module, true, "wasm.module"),
        (None, Some(grpc)) => (&grpc.binary, false, "grpc.binary"),
        (None, None) => return None,
    };
    let mut digest = Digest {
        hasher: Sha256::new(),
        head: Vec::with_capacity(8),
        len: 0,
    };
    digest.hasher.update(manifest.as_bytes());
    plugin_core::Artifact::open(&plugin.manifest.name, field, artifact, MAX_FINGERPRINTED)
        .and_then(|file| file.copy_to(&mut digest))
        .ok()?;
    let complete = if is_wasm && artifact.extension().is_some_and(|e| e == "wasm") {
        digest.head.starts_with(b"\0asm") && digest.len >= 8
    } else {
        digest.len > 0
    };
    if !complete {
        return None;
    }
    Some(digest.hasher.finalize().into())
}
