//! The Landlock ruleset: the files, TCP ports and scopes a plugin process
//! may reach.
//!
//! The ruleset is built in the host, before the fork (opening the folders,
//! allocating), and only applied in the child between `fork` and `exec`
//! (two system calls). What the child may reach:
//! - read and execute: its binary, its plugin folder, the system's program
//!   and library folders (`/usr`, `/lib*`, `/bin`, `/sbin`) and the files of
//!   `/etc` programs need (the loader cache, certificates, time zone, name
//!   resolution, users and groups), not `/etc` whole: `/etc/shadow` stays
//!   closed even to a plugin running as root; `/proc/self` (when it has
//!   a `/proc`: a private root has none, see `root`);
//! - read and write: `/dev/null`, `/dev/urandom` (read), its data folder
//!   (`HOME`), its temporary folder and the go-plugin socket folder;
//! - the folders its manifest asked and the host granted, in that mode;
//! - TCP (ABI 4): binding only the ports of its go-plugin port range, and
//!   connecting only to the ports granted;
//! - scopes (ABI 6): no signals to processes outside the plugin, no
//!   abstract unix sockets made outside it.
//!
//! Everything else (the host's data, other plugins' folders, `/root`,
//! `/home`, the rest of `/proc`) is refused by the kernel with `EACCES`.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetError, Scope,
};
use plugin_core::manifest::FsMode;

/// The Landlock ABI the rules are written for; newer kernels enforce it,
/// older ones as much of it as they know (the report says how much).
pub(super) const TARGET_ABI: ABI = ABI::V6;
/// The first ABI with TCP rules.
pub(super) const NET_ABI: i32 = 4;
/// The first ABI with scopes (signals, abstract unix sockets).
pub(super) const SCOPE_ABI: i32 = 6;

/// System folders a program needs to start and run.
pub(crate) const SYSTEM_DIRS: &[&str] = &["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"];

/// The files and folders of `/etc` a program may need.
pub(super) const ETC: &[&str] = &[
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

/// A folder the host granted, as the confinement uses it.
#[derive(Debug, Clone)]
pub(crate) struct GrantedFolder {
    /// Where it was when it was checked: where the plugin is told it is,
    /// and where its private root shows it.
    pub(crate) path: PathBuf,
    /// The handle opened when it was checked (`/proc/self/fd/N`): what the
    /// Landlock rule is made from, never `path` again, which the plugin may
    /// have swapped for a symlink since.
    pub(crate) handle: PathBuf,
    /// Its device and inode: the private root binds `path` (a handle of the
    /// host's mount namespace cannot be bound in the plugin's) and checks
    /// that what it bound is this folder.
    pub(crate) identity: (u64, u64),
    /// The access granted.
    pub(crate) mode: FsMode,
}

/// What a plugin process may reach.
#[derive(Debug, Clone)]
pub(crate) struct View<'a> {
    /// The executable.
    pub(crate) binary: &'a Path,
    /// The plugin folder.
    pub(crate) plugin_dir: &'a Path,
    /// Folders it writes: its data folder, temp folder, socket folder.
    pub(crate) writable: Vec<&'a Path>,
    /// Folders its manifest asked for and the host granted.
    pub(crate) granted: Vec<GrantedFolder>,
    /// TCP ports it may connect to.
    pub(crate) connect: &'a [u16],
    /// TCP ports it may bind (its go-plugin port range).
    pub(crate) bind: RangeInclusive<u16>,
}

/// Builds the ruleset for `view` (in the host: opens every path). Paths
/// that do not exist are skipped; so are the rights the kernel lacks.
pub(super) fn ruleset(view: &View<'_>) -> Result<RulesetCreated, RulesetError> {
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
    rules.extend(view.granted.iter().map(|folder| {
        let access = match folder.mode {
            FsMode::Read => read,
            FsMode::ReadWrite => all,
        };
        (folder.handle.as_path(), access)
    }));
    let mut ruleset = Ruleset::default()
        .handle_access(all)?
        .handle_access(AccessNet::from_all(TARGET_ABI))?
        .scope(Scope::from_all(TARGET_ABI))?
        .create()?;
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
    for port in view.connect {
        ruleset = ruleset.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
    }
    for port in view.bind.clone() {
        ruleset = ruleset.add_rule(NetPort::new(port, AccessNet::BindTcp))?;
    }
    Ok(ruleset)
}

/// Applies `ruleset` to the calling process (in the child, before `exec`),
/// with read access to its own `/proc/self` when `proc_self` (opened here:
/// in the host it would be the host's; a private root has no `/proc`):
/// system calls only, no allocation on success.
pub(super) fn restrict(ruleset: RulesetCreated, proc_self: bool) -> std::io::Result<()> {
    let eperm = |_| std::io::Error::from(rustix::io::Errno::PERM);
    let ruleset = if proc_self {
        let own = rustix::fs::open(
            c"/proc/self/",
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )?;
        let read = AccessFs::from_read(TARGET_ABI);
        ruleset
            .add_rule(PathBeneath::new(own, read))
            .map_err(eperm)?
    } else {
        ruleset
    };
    ruleset
        .restrict_self()
        .map(|_| ())
        // EPERM, not a message: no allocation between fork and exec.
        .map_err(|_| std::io::Error::from(rustix::io::Errno::PERM))
}

/// The Landlock ABI the running kernel has; 0 without Landlock.
#[allow(unsafe_code)]
pub(super) fn kernel_abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_long = 1;
    // SAFETY: asking for the version takes no pointer (NULL, size 0) and
    // changes nothing.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(version).unwrap_or(0).max(0)
}
