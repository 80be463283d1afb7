//! Scanning local folders for plugins.
//!
//! A path given to [`scan`] is one of
//! - a manifest file (any name), read as it is;
//! - a plugin folder: a folder holding a `plugin.yaml`;
//! - a folder of plugin folders: each immediate sub-folder holding a
//!   `plugin.yaml` is a plugin; sub-folders without one are not plugins and
//!   are passed over; hidden sub-folders (`.git`...) are never read.
//!
//! A broken manifest never hides the others: it becomes a [`Diagnostic`]
//! naming its file, and scanning goes on. Results are in path order.

use std::io;
use std::path::{Path, PathBuf};

use plugin_core::{MANIFEST_FILE_NAME, Manifest};

use crate::source::{Diagnostic, Discovered, Discovery};

/// Scans `path` for plugins; see the [module docs](self) for what a path may be.
///
/// Fails only when `path` itself cannot be read, or holds no plugin at all.
pub fn scan(path: &Path) -> io::Result<Discovery> {
    let mut discovery = Discovery::default();
    let metadata = std::fs::metadata(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    if metadata.is_file() {
        read_into(&mut discovery, path.to_path_buf());
    } else if path.join(MANIFEST_FILE_NAME).is_file() {
        read_into(&mut discovery, path.join(MANIFEST_FILE_NAME));
    } else {
        let manifests = plugin_manifests(path)?;
        if manifests.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{}: no {MANIFEST_FILE_NAME} here or in any sub-folder",
                    path.display()
                ),
            ));
        }
        for manifest in manifests {
            read_into(&mut discovery, manifest);
        }
    }
    Ok(discovery)
}

/// The manifests of the plugin folders directly in `dir`, sorted.
fn plugin_manifests(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut manifests = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let manifest = entry.path().join(MANIFEST_FILE_NAME);
        if !hidden && entry.file_type()?.is_dir() && manifest.is_file() {
            manifests.push(manifest);
        }
    }
    manifests.sort();
    Ok(manifests)
}

/// The plugins in a folder of plugin folders, which may hold none (yet);
/// an unreadable folder holds none.
pub(crate) fn scan_folder(dir: &Path) -> Discovery {
    let mut discovery = Discovery::default();
    for manifest in plugin_manifests(dir).unwrap_or_default() {
        read_into(&mut discovery, manifest);
    }
    discovery
}

/// Reads the manifest at `manifest_path` into `discovery`: a plugin at its
/// folder, or a diagnostic naming the file.
fn read_into(discovery: &mut Discovery, manifest_path: PathBuf) {
    match Manifest::from_file(&manifest_path) {
        Ok(manifest) => discovery.plugins.push(Discovered {
            location: manifest.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
            manifest,
        }),
        Err(error) => discovery
            .diagnostics
            .push(Diagnostic::new(manifest_path, error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(root: &Path, name: &str, text: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(MANIFEST_FILE_NAME), text).unwrap();
        dir
    }

    fn wasm(name: &str) -> String {
        format!("name: {name}\nruntime: wasm\nwasm: {{module: {name}.wasm}}\n")
    }

    #[test]
    fn a_folder_of_plugins_with_a_broken_neighbour() {
        let root = tempfile::tempdir().unwrap();
        plugin(root.path(), "b", &wasm("bravo"));
        plugin(root.path(), "a", &wasm("alpha"));
        plugin(root.path(), "c", "name: broken\nruntime: wasm\n");
        plugin(root.path(), ".hidden", &wasm("hidden"));
        std::fs::create_dir(root.path().join("not-a-plugin")).unwrap();
        std::fs::write(root.path().join("README.md"), "hi").unwrap();

        let found = scan(root.path()).unwrap();
        let names: Vec<&str> = found
            .plugins
            .iter()
            .map(|p| p.manifest.name.as_str())
            .collect();
        assert_eq!(names, ["alpha", "bravo"]);
        assert_eq!(found.plugins[0].location, root.path().join("a"));
        assert_eq!(found.diagnostics.len(), 1);
        let diagnostic = &found.diagnostics[0];
        assert_eq!(
            diagnostic.location,
            root.path().join("c").join(MANIFEST_FILE_NAME)
        );
        assert!(
            diagnostic.error.to_string().contains("wasm: is required"),
            "{}",
            diagnostic.error
        );
    }

    #[test]
    fn a_plugin_folder_or_a_manifest_file() {
        let root = tempfile::tempdir().unwrap();
        let dir = plugin(root.path(), "echo", &wasm("echo"));
        let by_dir = scan(&dir).unwrap();
        assert_eq!(by_dir.plugins.len(), 1);
        assert_eq!(
            by_dir.plugins[0].manifest.wasm.as_ref().unwrap().module,
            dir.join("echo.wasm")
        );

        let other = root.path().join("other.yaml");
        std::fs::write(&other, wasm("other")).unwrap();
        assert_eq!(scan(&other).unwrap().plugins[0].manifest.name, "other");
    }

    #[test]
    fn nothing_to_find_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let err = scan(root.path()).unwrap_err();
        assert!(err.to_string().contains("no plugin.yaml"), "{err}");
        let err = scan(&root.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
