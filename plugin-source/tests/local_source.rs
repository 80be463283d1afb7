//! `LocalSource` on real folders, with real file-system notifications.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugin_source::{LocalSource, Source, SourceError, SourceEvent, SourceEvents, from_config};
use plugin_types::SourceConfig;

const WASM: &[u8] = b"\0asm\x01\0\0\0";

fn write_plugin(root: &Path, folder: &str, name: &str, module: &[u8]) -> PathBuf {
    let dir = root.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("m.wasm"), module).unwrap();
    std::fs::write(
        dir.join("plugin.yaml"),
        format!("name: {name}\nruntime: wasm\nwasm: {{module: m.wasm}}\n"),
    )
    .unwrap();
    dir
}

/// The next event, within a generous deadline (a correctness check, not a
/// timing one).
async fn next(watch: &mut SourceEvents) -> SourceEvent {
    tokio::time::timeout(Duration::from_secs(20), watch.next())
        .await
        .expect("an event")
        .expect("the watch is alive")
}

fn source(root: &Path) -> LocalSource {
    LocalSource::new(root).with_quiet_period(Duration::from_millis(100))
}

#[tokio::test]
async fn discover_reports_broken_neighbours() {
    let root = tempfile::tempdir().unwrap();
    let dir = write_plugin(root.path(), "a", "alpha", WASM);
    std::fs::create_dir(root.path().join("b")).unwrap();
    std::fs::write(root.path().join("b/plugin.yaml"), "name: [broken\n").unwrap();
    let source = source(root.path());
    let found = source.discover().await.unwrap();
    assert_eq!(found.plugins.len(), 1);
    assert_eq!(found.diagnostics.len(), 1);
    assert_eq!(found.plugins[0].location, dir);
    let broken = &found.diagnostics[0];
    assert!(broken.location.ends_with("b/plugin.yaml"));
    assert!(
        broken.error.to_string().contains("b/plugin.yaml"),
        "{}",
        broken.error
    );

    // An empty folder is a source with no plugins (yet), not an error.
    let empty = tempfile::tempdir().unwrap();
    assert!(
        source_of(empty.path())
            .discover()
            .await
            .unwrap()
            .plugins
            .is_empty()
    );
    let missing = source_of(&empty.path().join("gone")).discover().await;
    assert!(matches!(missing, Err(SourceError::Io { .. })));
}

fn source_of(path: &Path) -> LocalSource {
    LocalSource::new(path)
}

#[tokio::test]
async fn sources_come_from_the_host_configuration() {
    let root = tempfile::tempdir().unwrap();
    let local = SourceConfig::local(root.path());
    write_plugin(root.path(), "a", "alpha", WASM);
    let found = from_config(&local).unwrap().discover().await.unwrap();
    assert_eq!(found.plugins[0].manifest.name, "alpha");
    let git = SourceConfig {
        kind: "git".into(),
        path: None,
    };
    let error = from_config(&git).err().unwrap();
    assert_eq!(
        error.to_string(),
        "source type \"git\" is not supported (supported: local)"
    );
    let no_path = SourceConfig {
        kind: "local".into(),
        path: None,
    };
    assert_eq!(
        from_config(&no_path).err().unwrap().to_string(),
        "source type \"local\" needs `path`"
    );
}

#[tokio::test]
async fn watching_reports_added_updated_broken_and_removed() {
    let root = tempfile::tempdir().unwrap();
    let alpha = write_plugin(root.path(), "a", "alpha", WASM);
    let source = source(root.path());
    let mut watch = source.watch().await.unwrap();

    // A new plugin folder.
    write_plugin(root.path(), "b", "bravo", WASM);
    let SourceEvent::Added(added) = next(&mut watch).await else {
        panic!("want Added")
    };
    assert_eq!(added.manifest.name, "bravo");

    // A changed module.
    let mut module = WASM.to_vec();
    module.extend_from_slice(b"\0\0");
    std::fs::write(alpha.join("m.wasm"), &module).unwrap();
    let SourceEvent::Updated(updated) = next(&mut watch).await else {
        panic!("want Updated")
    };
    assert_eq!(updated.manifest.name, "alpha");

    // A manifest broken by an edit: reported, and alpha is not removed.
    std::fs::write(alpha.join("plugin.yaml"), "name: alpha\nruntime: wasm\n").unwrap();
    let SourceEvent::Broken(diagnostic) = next(&mut watch).await else {
        panic!("want Broken")
    };
    assert!(
        diagnostic.error.to_string().contains("wasm"),
        "{}",
        diagnostic.error
    );
    // Fixed again (with a new version): an update.
    std::fs::write(
        alpha.join("plugin.yaml"),
        "name: alpha\nversion: 2.0.0\nruntime: wasm\nwasm: {module: m.wasm}\n",
    )
    .unwrap();
    let SourceEvent::Updated(fixed) = next(&mut watch).await else {
        panic!("want Updated")
    };
    assert_eq!(fixed.manifest.version, "2.0.0");

    // A folder removed.
    std::fs::remove_dir_all(root.path().join("b")).unwrap();
    let SourceEvent::Removed { name, location } = next(&mut watch).await else {
        panic!("want Removed")
    };
    assert_eq!((name.as_str(), location), ("bravo", root.path().join("b")));
}

#[tokio::test]
async fn a_half_written_module_triggers_nothing_until_it_is_complete() {
    let root = tempfile::tempdir().unwrap();
    let alpha = write_plugin(root.path(), "a", "alpha", WASM);
    let mut watch = source(root.path()).watch().await.unwrap();

    // The first bytes of a new module, then (after more than the quiet
    // period) the rest.
    std::fs::write(alpha.join("m.wasm"), b"\0as").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut complete = WASM.to_vec();
    complete.extend_from_slice(b"\x01\x02");
    std::fs::write(alpha.join("m.wasm"), &complete).unwrap();

    // The first event is the update to the complete module: nothing was
    // reported for the partial one.
    let SourceEvent::Updated(updated) = next(&mut watch).await else {
        panic!("want Updated")
    };
    let module = updated.manifest.wasm.as_ref().unwrap().module.clone();
    assert_eq!(std::fs::read(module).unwrap(), complete);
}

#[tokio::test]
async fn reread_reads_the_plugin_folder_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = write_plugin(root.path(), "a", "alpha", WASM);
    let source = source(root.path());
    let found = source.discover().await.unwrap().plugins.remove(0);
    std::fs::write(
        dir.join("plugin.yaml"),
        "name: alpha\nversion: 2.0.0\nruntime: wasm\nwasm: {module: m.wasm}\n",
    )
    .unwrap();
    let again = source.reread(&found).await.unwrap();
    assert_eq!(
        (again.location.as_path(), again.manifest.version.as_str()),
        (dir.as_path(), "2.0.0")
    );

    // A broken manifest: the error names the file and the field.
    std::fs::write(dir.join("plugin.yaml"), "name: alpha\nruntime: wasm\n").unwrap();
    let err = source.reread(&found).await.unwrap_err().to_string();
    assert!(
        err.contains("a/plugin.yaml") && err.contains("wasm: is required"),
        "{err}"
    );
    // A folder gone.
    std::fs::remove_dir_all(&dir).unwrap();
    let err = source.reread(&found).await.unwrap_err();
    assert!(matches!(err, SourceError::Gone { .. }), "{err}");
    assert!(err.to_string().contains("no longer there"), "{err}");
}
