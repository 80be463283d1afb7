//! Reading a plugin's code (`wasm.module`, `grpc.binary`): whatever path a
//! manifest names, the host reads a regular file of bounded size, or
//! nothing.
//!
//! The file is opened once, without blocking (`O_NONBLOCK`: a FIFO cannot
//! hang the host's start), checked on the open file (`fstat`: a regular
//! file, no larger than the limit; `/dev/zero`, a directory or a socket is
//! refused), and read from that same open file, at most one byte past the
//! limit (a file that grows while it is read is refused too, never read
//! without end). The limit is the host policy's `max_artifact_size`
//! ([`limit_for`]).

use std::fs::File;
use std::io::{Read as _, Write};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use plugin_types::PermissionPolicy;

use crate::manifest::limits::DEFAULT_MAX_ARTIFACT_SIZE;
use plugin_types::ByteSize;

/// The `max_artifact_size` that holds for `plugin` under `policy`: its own
/// entry's, else the default's, else [`DEFAULT_MAX_ARTIFACT_SIZE`].
pub fn limit_for(policy: &PermissionPolicy, plugin: &str) -> ByteSize {
    policy
        .max_artifact_size(plugin)
        .unwrap_or(DEFAULT_MAX_ARTIFACT_SIZE)
}

/// Why a plugin's code was not read. Each names the manifest field and the
/// path (the runner's error names the plugin); a size refusal also names
/// the size, the limit and the setting that would allow it.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be opened or examined.
    #[error("{field} {}: {source}", path.display())]
    Open {
        /// The plugin.
        plugin: String,
        /// The manifest field (`wasm.module`, `grpc.binary`).
        field: &'static str,
        /// The path it names.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The path is a device, FIFO, socket or folder, not a regular file.
    #[error("{field} {} is {kind}, not a regular file", path.display())]
    NotAFile {
        /// The plugin.
        plugin: String,
        /// The manifest field.
        field: &'static str,
        /// The path it names.
        path: PathBuf,
        /// What it is (`a character device`, `a FIFO`...).
        kind: &'static str,
    },
    /// The file is larger than the host reads.
    #[error(
        "{field} {} is {size} bytes, more than the {limit} the host reads; to allow it, set {} (or {}) in the host's configuration",
        path.display(),
        PermissionPolicy::setting(plugin, "max_artifact_size"),
        PermissionPolicy::default_setting("max_artifact_size")
    )]
    TooLarge {
        /// The plugin.
        plugin: String,
        /// The manifest field.
        field: &'static str,
        /// The path it names.
        path: PathBuf,
        /// Its size in bytes (at least; it may have grown while read).
        size: u64,
        /// The limit.
        limit: ByteSize,
    },
}

/// Checks a plugin's code the embedder gave as `size` bytes in memory
/// (what `plugin`'s manifest `field` names `name`) against the `limit` a
/// file would be held to: the same refusal, naming the same setting.
pub fn check_given(
    plugin: &str,
    field: &'static str,
    name: &Path,
    size: u64,
    limit: ByteSize,
) -> Result<(), ArtifactError> {
    if size > limit.bytes() {
        return Err(ArtifactError::TooLarge {
            plugin: plugin.to_owned(),
            field,
            path: name.to_owned(),
            size,
            limit,
        });
    }
    Ok(())
}

/// A plugin's code, open and checked: a regular file within the limit.
#[derive(Debug)]
pub struct Artifact {
    file: File,
    plugin: String,
    field: &'static str,
    path: PathBuf,
    limit: ByteSize,
}

impl Artifact {
    /// Opens `path` (what `plugin`'s manifest `field` names) without
    /// blocking, and checks on the open file that it is a regular file of
    /// at most `limit` bytes.
    pub fn open(
        plugin: &str,
        field: &'static str,
        path: &Path,
        limit: ByteSize,
    ) -> Result<Self, ArtifactError> {
        let open_error = |source| ArtifactError::Open {
            plugin: plugin.to_owned(),
            field,
            path: path.to_owned(),
            source,
        };
        let file = open_without_blocking(path).map_err(open_error)?;
        let meta = file.metadata().map_err(open_error)?;
        let kind = meta.file_type();
        if !kind.is_file() {
            let kind = if kind.is_dir() {
                "a folder"
            } else if kind.is_char_device() {
                "a character device"
            } else if kind.is_block_device() {
                "a block device"
            } else if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "not a regular file"
            };
            return Err(ArtifactError::NotAFile {
                plugin: plugin.to_owned(),
                field,
                path: path.to_owned(),
                kind,
            });
        }
        let artifact = Self {
            file,
            plugin: plugin.to_owned(),
            field,
            path: path.to_owned(),
            limit,
        };
        if meta.len() > limit.bytes() {
            return Err(artifact.too_large(meta.len()));
        }
        Ok(artifact)
    }

    fn too_large(&self, size: u64) -> ArtifactError {
        ArtifactError::TooLarge {
            plugin: self.plugin.clone(),
            field: self.field,
            path: self.path.clone(),
            size,
            limit: self.limit,
        }
    }

    /// Copies the file into `out`, reading at most one byte past the
    /// limit: a file that grew past it since it was opened is refused.
    /// Returns the bytes copied.
    pub fn copy_to(self, out: &mut impl Write) -> Result<u64, ArtifactError> {
        let mut bounded = (&self.file).take(self.limit.bytes().saturating_add(1));
        let copied = std::io::copy(&mut bounded, out).map_err(|source| ArtifactError::Open {
            plugin: self.plugin.clone(),
            field: self.field,
            path: self.path.clone(),
            source,
        })?;
        if copied > self.limit.bytes() {
            return Err(self.too_large(copied));
        }
        Ok(copied)
    }

    /// The whole file, read as [`copy_to`](Self::copy_to) reads it.
    pub fn read_all(self) -> Result<Vec<u8>, ArtifactError> {
        let expected = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        self.copy_to(&mut bytes)?;
        Ok(bytes)
    }
}

/// Opens `path` for reading without blocking (a FIFO nobody writes opens
/// and reads as empty rather than hanging) and without making a terminal
/// the host's: for every file a manifest or an operator names.
pub(crate) fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn open(path: &Path, limit: ByteSize) -> Result<Artifact, ArtifactError> {
        Artifact::open("p", "wasm.module", path, limit)
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wasm");
        std::fs::write(&path, b"\0asm1234").unwrap();
        let bytes = open(&path, ByteSize::kib(1)).unwrap().read_all().unwrap();
        assert_eq!(bytes, b"\0asm1234");
        // Exactly the limit is fine.
        assert_eq!(
            open(&path, ByteSize(8)).unwrap().read_all().unwrap().len(),
            8
        );
    }

    #[test]
    fn a_larger_file_is_refused_naming_size_limit_and_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.wasm");
        std::fs::write(&path, [0u8; 2048]).unwrap();
        let error = open(&path, ByteSize::kib(1)).unwrap_err().to_string();
        assert!(
            error.starts_with("wasm.module ")
                && error.contains("is 2048 bytes, more than the 1KiB the host reads")
                && error.contains("plugins.permissions.plugins.p.max_artifact_size"),
            "{error}"
        );
    }

    #[test]
    fn devices_fifos_and_folders_are_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        // A symlink to /dev/zero: refused from its type, nothing read.
        let zero = dir.path().join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let error = open(&zero, ByteSize::gib(1)).unwrap_err().to_string();
        assert!(error.contains("is a character device"), "{error}");
        // A FIFO nobody writes: the open does not block.
        let fifo = dir.path().join("fifo.wasm");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let error = open(&fifo, ByteSize::gib(1)).unwrap_err().to_string();
        assert!(error.contains("is a FIFO"), "{error}");
        let error = open(dir.path(), ByteSize::gib(1)).unwrap_err().to_string();
        assert!(error.contains("is a folder"), "{error}");
        let missing = open(&dir.path().join("nope"), ByteSize::gib(1)).unwrap_err();
        assert!(matches!(missing, ArtifactError::Open { .. }), "{missing}");
    }

    #[test]
    fn the_limit_comes_from_the_plugins_entry_then_the_default() {
        let policy: PermissionPolicy = serde_json::from_str(
            r#"{"default": {"max_artifact_size": "1MiB"}, "plugins": {"big": {"max_artifact_size": "1GiB"}}}"#,
        )
        .unwrap();
        assert_eq!(limit_for(&policy, "big"), ByteSize::gib(1));
        assert_eq!(limit_for(&policy, "small"), ByteSize::mib(1));
        assert_eq!(
            limit_for(&PermissionPolicy::default(), "any"),
            DEFAULT_MAX_ARTIFACT_SIZE
        );
    }
}
