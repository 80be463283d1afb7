//! The filesystem a plugin process may touch, enforced by the kernel with
//! Landlock.
//!
//! The ruleset is built in the host, before the fork (opening the folders,
//! allocating), and only applied in the child between `fork` and `exec`
//! (two system calls). What the child may reach:
//! - read and execute: its binary, its plugin folder, the system's program
//!   and library folders (`/usr`, `/lib*`, `/bin`, `/sbin`) and the files of
//!   `/etc` programs need (the loader cache, certificates, time zone, name
//!   resolution, users and groups), not `/etc` whole: `/etc/shadow` stays
//!   closed even to a plugin running as root;
//! - read and write: `/dev/null`, `/dev/urandom` (read), its data folder
//!   (`HOME`), its temporary folder and the go-plugin socket folder.
//!
//! Everything else (the host's data, other plugins' folders, `/root`,
//! `/home`, `/proc`) is refused by the kernel. On a kernel without Landlock
//! the ruleset is a no-op (the crate's best effort).

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError,
};

/// The Landlock ABI the rules are written for; newer kernels enforce it,
/// older ones as much of it as they know.
const TARGET_ABI: ABI = ABI::V5;

/// System folders a program needs to start and run.
const SYSTEM_DIRS: &[&str] = &["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"];

/// The files and folders of `/etc` a program may need.
const ETC: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/localtime",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/host.conf",
    "/etc/gai.conf",
];

/// Where a plugin process may read and write.
#[derive(Debug, Clone)]
pub(crate) struct FsView<'a> {
    /// The executable.
    pub(crate) binary: &'a Path,
    /// The plugin folder.
    pub(crate) plugin_dir: &'a Path,
    /// Folders it writes: its data folder, temp folder, socket folder.
    pub(crate) writable: Vec<&'a Path>,
}

/// A ruleset ready to be applied in the child.
pub(crate) struct Confinement {
    ruleset: Option<RulesetCreated>,
}

impl Confinement {
    /// Builds the ruleset for `view` (in the host: opens every path).
    /// Paths that do not exist are skipped.
    pub(crate) fn new(view: &FsView<'_>) -> Result<Self, RulesetError> {
        let all = AccessFs::from_all(TARGET_ABI);
        let read = AccessFs::from_read(TARGET_ABI);
        let mut rules: Vec<(&Path, BitFlags<AccessFs>)> = vec![
            (view.binary, read),
            (view.plugin_dir, read),
            (Path::new("/dev/urandom"), read),
            (Path::new("/dev/null"), all),
        ];
        rules.extend(SYSTEM_DIRS.iter().chain(ETC).map(|p| (Path::new(*p), read)));
        rules.extend(view.writable.iter().map(|p| (*p, all)));
        let mut ruleset = Ruleset::default().handle_access(all)?.create()?;
        for (path, access) in rules {
            let Ok(fd) = PathFd::new(path) else {
                continue;
            };
            // A file takes only the rights files have.
            let access = if path.is_dir() {
                access
            } else {
                access & AccessFs::from_file(TARGET_ABI)
            };
            ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
        }
        Ok(Self {
            ruleset: Some(ruleset),
        })
    }

    /// Applies the ruleset to the calling process (in the child, before
    /// `exec`): system calls only, no allocation on success.
    pub(crate) fn restrict(&mut self) -> std::io::Result<()> {
        match self.ruleset.take() {
            Some(ruleset) => ruleset
                .restrict_self()
                .map(|_| ())
                // EPERM, not a message: no allocation between fork and exec.
                .map_err(|_| std::io::Error::from(rustix::io::Errno::PERM)),
            None => Ok(()),
        }
    }
}

/// The canonical form of `path`, or the path itself when it cannot be had.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
