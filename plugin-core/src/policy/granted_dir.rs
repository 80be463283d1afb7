//! A granted folder held open: [`GrantedDir`].
//!
//! A grant is checked once, at load, on a folder; every instance, relaunch
//! and confinement of that version is then built from the same open handle,
//! never from the path again. Between the check and a later use, the path
//! may have been swapped (a folder removed and a symlink left in its place by
//! the plugin itself, through a read-write parent it was granted); the handle
//! still names the very folder that was checked.
//!
//! Opening follows no symbolic link in any component (`openat2` with
//! `RESOLVE_NO_SYMLINKS`), so what is opened is what the path names without
//! indirection, and the folder's own location is read back from the handle
//! for the policy check.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};

/// A folder opened once when it was granted; cheap to clone (the handle is
/// shared). Compared by the folder it names (device and inode).
#[derive(Clone)]
pub struct GrantedDir {
    fd: Arc<OwnedFd>,
}

impl GrantedDir {
    /// Opens the folder at `path`, an absolute path with no symlink in any
    /// component (a canonical path: a symlink swapped in since fails).
    pub fn open(path: &Path) -> io::Result<Self> {
        let fd = open_no_symlinks(rustix::fs::CWD, path)?;
        Ok(Self { fd: Arc::new(fd) })
    }

    /// Opens `sub` (relative, plain names only) beneath this folder,
    /// creating each missing folder on the way when `create` is set. No
    /// component may be a symlink, nor lead out of this folder.
    pub fn open_beneath(&self, sub: &Path, create: bool) -> io::Result<Self> {
        let mut current = self.clone();
        for component in sub.components() {
            let name = match component {
                Component::Normal(name) => name,
                Component::CurDir => continue,
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{} leads out of its folder", sub.display()),
                    ));
                }
            };
            if create {
                match rustix::fs::mkdirat(current.as_fd(), name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let fd = open_no_symlinks(current.as_fd(), Path::new(name))?;
            current = Self { fd: Arc::new(fd) };
        }
        Ok(current)
    }

    /// Where the folder is now, read from the handle (it may have moved
    /// since it was opened; a removed folder reads as `… (deleted)`).
    pub fn location(&self) -> io::Result<PathBuf> {
        #[cfg(target_os = "linux")]
        {
            std::fs::read_link(self.reopen_path())
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "reading a folder's location from its handle needs Linux",
            ))
        }
    }

    /// A path that names this very folder, not whatever its old path names
    /// now: `/proc/self/fd/N`, for APIs that take a path (WASI preopens,
    /// bind mounts, Landlock's rules). Valid while this handle (or a clone)
    /// lives, in this process and in a child forked from it.
    pub fn reopen_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// The device and inode of the folder: what a bind mount of it shows
    /// too, so a process's private root can check it got this very folder.
    #[allow(clippy::unnecessary_cast)] // `dev_t` and `ino_t` are not `u64` everywhere
    pub fn identity(&self) -> Option<(u64, u64)> {
        rustix::fs::fstat(&*self.fd)
            .ok()
            .map(|s| (s.st_dev as u64, s.st_ino as u64))
    }
}

impl AsFd for GrantedDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl PartialEq for GrantedDir {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.fd, &other.fd)
            || self
                .identity()
                .is_some_and(|id| other.identity() == Some(id))
    }
}

impl Eq for GrantedDir {}

impl std::fmt::Debug for GrantedDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantedDir")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

/// Opens the folder `path` relative to `dir` (a path handle: no read or
/// search right needed to hold it), following no symlink.
fn open_no_symlinks(dir: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        rustix::fs::openat2(
            dir,
            path,
            flags,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} passes through a symbolic link", path.display()),
            ),
            e => e.into(),
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(rustix::fs::openat(
            dir,
            path,
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_symlink_anywhere_on_the_path_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        assert!(GrantedDir::open(&root.join("real")).is_ok());
        let err = GrantedDir::open(&root.join("link")).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let dir = GrantedDir::open(&root).unwrap();
        assert!(dir.open_beneath(Path::new("link"), false).is_err());
        assert!(dir.open_beneath(Path::new("real/../.."), false).is_err());
    }

    #[test]
    fn the_handle_keeps_naming_the_folder_after_a_swap() {
        let root = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(root.path()).unwrap();
        let dir = GrantedDir::open(&root)
            .unwrap()
            .open_beneath(Path::new("x/y"), true)
            .unwrap();
        assert_eq!(dir.location().unwrap(), root.join("x/y"));
        std::fs::write(root.join("x/y/mark"), "checked").unwrap();
        // The folder moves away and a symlink to / takes its place.
        std::fs::rename(root.join("x/y"), root.join("moved")).unwrap();
        std::os::unix::fs::symlink("/", root.join("x/y")).unwrap();
        let seen = std::fs::read_to_string(dir.reopen_path().join("mark")).unwrap();
        assert_eq!(seen, "checked");
        assert_eq!(dir.location().unwrap(), root.join("moved"));
    }
}
