//! The private root: a plugin process sees only its own folders, the
//! folders the host granted and the system's, in a mount namespace of its
//! own, so no named unix socket outside them (another plugin's, the
//! host's, `docker.sock`) has a path it can connect to.
//!
//! Landlock (ABI <= 7) does not govern `connect` to a path socket; a mount
//! namespace does it by construction: what is not mounted has no path. In
//! the child, between `fork` and `exec` (system calls only, every path and
//! the mount list prepared here in the host):
//! 1. `unshare(CLONE_NEWNS)`, and `CLONE_NEWUSER` too when the host lacks
//!    `CAP_SYS_ADMIN` (its own uid and gid mapped to themselves, one line
//!    each, `setgroups` denied); and `CLONE_NEWNET` for a plugin granted no
//!    TCP port that listens on a unix socket: a network namespace with no
//!    interface (not even a running loopback), which no protocol trick
//!    gets out of;
//! 2. every mount made private (`MS_REC | MS_PRIVATE`): nothing propagates
//!    back to the host;
//! 3. a fresh tmpfs on an empty host folder made for this launch, holding,
//!    each at the same path as on the host (the plugin is told host paths:
//!    `HOME`, `TMPDIR`, `PLUGIN_UNIX_SOCKET_DIR`, its grants):
//!    - read-only: the system folders and the `/etc` files Landlock grants
//!      (symbolic links such as `/lib -> usr/lib` made as links), the
//!      plugin's binary and folder, and the granted folders of mode `read`;
//!    - read-write: its data folder (`HOME`), `TMPDIR`, its session (socket)
//!      folder, and the granted folders of mode `readwrite`;
//!    - the device nodes `/dev/null` (read-write) and `/dev/urandom`;
//!
//!    each a recursive bind from a prepared source path, then made
//!    `nosuid`, `nodev` (devices excepted) and, for mode `read`, read-only
//!    with `mount_setattr(AT_RECURSIVE)`. The binds are made before
//!    `pivot_root`, while the host's tree (and its `/proc`) is reachable,
//!    so a source may later be a `/proc/self/fd/N` of a handle opened at
//!    the grant check;
//! 4. `pivot_root` into it, the old root detached, the new root made
//!    read-only, and the working directory set again (the one `Command`
//!    set points into the old root).
//!
//! **No `/proc`**: a fresh `proc` mount without a pid namespace shows the
//! host's processes, and a pid namespace needs a second fork (the plugin
//! would run as pid 1 under an extra parent the host would have to
//! supervise). Go, Rust and Python plugins start without `/proc`; what
//! needs it (`os.Executable` in Go, `/proc/self/fd` listings) fails, and
//! `/proc/self/net/unix`, which lists every socket of the host, is gone.
//! Abstract unix sockets are not paths: Landlock's scope (ABI 6) keeps
//! them.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use plugin_core::manifest::FsMode;

use super::landlock::{ETC, SYSTEM_DIRS, View};

/// `MOUNT_ATTR_RDONLY` and friends (`linux/mount.h`).
const RDONLY: u64 = 0x1;
const NOSUID: u64 = 0x2;
const NODEV: u64 = 0x4;
const NOEXEC: u64 = 0x8;

/// How a folder or file is mounted.
const READ: u64 = RDONLY | NOSUID | NODEV;
const WRITE: u64 = NOSUID | NODEV;
const DEVICE: u64 = NOSUID | NOEXEC;

/// `struct mount_attr` (`linux/mount.h`).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// One step in the child, every path prepared.
#[derive(Debug)]
enum Step {
    /// A directory in the new root (mode 0755); one already there is fine.
    Dir(CString),
    /// An empty file in the new root, to bind a file onto.
    File(CString),
    /// A symbolic link `at` in the new root, reading `text`.
    Symlink { text: CString, at: CString },
    /// A recursive bind of `source` (a host path) at `target` (in the new
    /// root), then `attrs` set on it and everything beneath it; with
    /// `expect`, what was bound must be that folder (device, inode), else
    /// the launch fails: a granted folder swapped since it was checked.
    Bind {
        source: CString,
        target: CString,
        attrs: u64,
        expect: Option<(u64, u64)>,
    },
}

/// What to put into the new root, at the same path as on the host.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    what: What,
    /// For a granted folder: the device and inode of the folder that was
    /// checked, which the bind must show.
    expect: Option<(u64, u64)>,
}

impl Entry {
    fn new(path: PathBuf, what: What, expect: Option<(u64, u64)>) -> Self {
        Self { path, what, expect }
    }
}

#[derive(Debug)]
enum What {
    /// A bind of the host path, with these attributes.
    Bind(u64),
    /// A symbolic link with this text.
    Symlink(PathBuf),
}

/// The host's own ids, mapped to themselves in a user namespace.
struct IdMaps {
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

/// A private root ready to be entered in the child.
pub(super) struct PrivateRoot {
    /// The empty host folder the new root is mounted on (in the child's
    /// namespace only); removed when the spawn is over (by then the child
    /// has left it for good), on a thread of its own: the removal waits on
    /// the kernel for milliseconds and the launcher thread has other
    /// plugins to start.
    mount_dir: Option<tempfile::TempDir>,
    mount_point: CString,
    tmpfs_options: CString,
    steps: Vec<Step>,
    user: Option<IdMaps>,
    /// Whether it gets a network namespace of its own.
    own_network: bool,
    /// The working directory in the new root (the plugin folder).
    workdir: CString,
}

/// Why a prepared path could not be made a C string.
fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} has a NUL byte", path.display()),
        )
    })
}

/// `path` inside `root` (both absolute).
fn inside(root: &Path, path: &Path) -> PathBuf {
    let mut joined = root.to_path_buf();
    joined.extend(
        path.components()
            .filter(|c| matches!(c, Component::Normal(_))),
    );
    joined
}

impl PrivateRoot {
    /// Prepares the new root for `view` (in the host): decides every mount,
    /// makes the empty folder it is mounted on, and the C strings the child
    /// uses.
    pub(super) fn new(view: &View<'_>, user_ns: bool, own_network: bool) -> std::io::Result<Self> {
        let entries = entries(view)?;
        let mount_point = tempfile::Builder::new().prefix("flowbot-root-").tempdir()?;
        let base = mount_point.path().to_path_buf();
        let mut steps = Vec::new();
        let mut made: BTreeSet<PathBuf> = BTreeSet::new();
        let mut bound: Vec<&Path> = Vec::new();
        for entry in &entries {
            let under_bind = bound.iter().any(|b| entry.path.starts_with(b));
            let target = inside(&base, &entry.path);
            if !under_bind {
                // The folders leading to it, in the tmpfs.
                let mut ancestors: Vec<&Path> = entry.path.ancestors().skip(1).collect();
                ancestors.reverse();
                for ancestor in ancestors {
                    if ancestor.parent().is_some() && made.insert(ancestor.to_path_buf()) {
                        steps.push(Step::Dir(c_path(&inside(&base, ancestor))?));
                    }
                }
            }
            match &entry.what {
                What::Symlink(text) => {
                    if !under_bind {
                        steps.push(Step::Symlink {
                            text: c_path(text)?,
                            at: c_path(&target)?,
                        });
                        made.insert(entry.path.clone());
                    }
                }
                What::Bind(attrs) => {
                    if !under_bind {
                        made.insert(entry.path.clone());
                        steps.push(if entry.path.is_dir() {
                            Step::Dir(c_path(&target)?)
                        } else {
                            Step::File(c_path(&target)?)
                        });
                    }
                    steps.push(Step::Bind {
                        source: c_path(&entry.path)?,
                        target: c_path(&target)?,
                        attrs: *attrs,
                        expect: entry.expect,
                    });
                    bound.push(&entry.path);
                }
            }
        }
        let workdir = c_path(view.plugin_dir)?;
        let user = user_ns.then(|| {
            let uid = rustix::process::geteuid().as_raw();
            let gid = rustix::process::getegid().as_raw();
            IdMaps {
                uid_map: format!("{uid} {uid} 1\n").into_bytes(),
                gid_map: format!("{gid} {gid} 1\n").into_bytes(),
            }
        });
        Ok(Self {
            mount_point: c_path(&base)?,
            mount_dir: Some(mount_point),
            tmpfs_options: c"mode=0755,size=1m,nr_inodes=4096".to_owned(),
            steps,
            user,
            own_network,
            workdir,
        })
    }

    /// Whether the plugin gets a network namespace of its own.
    pub(super) fn own_network(&self) -> bool {
        self.own_network
    }

    /// Enters the new root (in the child, before `exec`, before Landlock
    /// forbids changing mounts): system calls only, no allocation.
    #[allow(unsafe_code)]
    pub(super) fn enter(&self) -> std::io::Result<()> {
        let flags = libc::CLONE_NEWNS
            | self.user.as_ref().map_or(0, |_| libc::CLONE_NEWUSER)
            | if self.own_network {
                libc::CLONE_NEWNET
            } else {
                0
            };
        // SAFETY: unshare takes no pointer.
        check(unsafe { libc::unshare(flags) })?;
        if let Some(maps) = &self.user {
            write_file(c"/proc/self/setgroups", b"deny")?;
            write_file(c"/proc/self/uid_map", &maps.uid_map)?;
            write_file(c"/proc/self/gid_map", &maps.gid_map)?;
        }
        mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
        mount(
            Some(c"tmpfs"),
            &self.mount_point,
            Some(c"tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&self.tmpfs_options),
        )?;
        for step in &self.steps {
            match step {
                Step::Dir(path) => {
                    // SAFETY: a NUL-terminated path.
                    let made = unsafe { libc::mkdir(path.as_ptr(), 0o755) };
                    if made != 0 && errno() != libc::EEXIST {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Step::File(path) => {
                    // SAFETY: a NUL-terminated path; the descriptor is closed.
                    let fd = unsafe {
                        libc::open(
                            path.as_ptr(),
                            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                            0o644,
                        )
                    };
                    check(fd)?;
                    // SAFETY: the descriptor just opened.
                    unsafe { libc::close(fd) };
                }
                Step::Symlink { text, at } => {
                    // SAFETY: NUL-terminated strings.
                    check(unsafe { libc::symlink(text.as_ptr(), at.as_ptr()) })?;
                }
                Step::Bind {
                    source,
                    target,
                    attrs,
                    expect,
                } => {
                    mount(
                        Some(source),
                        target,
                        None,
                        libc::MS_BIND | libc::MS_REC,
                        None,
                    )?;
                    if let Some(expect) = expect {
                        bound_is(target, *expect)?;
                    }
                    set_attrs(target, *attrs, true)?;
                }
            }
        }
        // SAFETY: NUL-terminated paths; pivot_root(".", ".") stacks the old
        // root on the new one, and the detach removes it.
        check(unsafe { libc::chdir(self.mount_point.as_ptr()) })?;
        check(unsafe {
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int
        })?;
        check(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) })?;
        check(unsafe { libc::chdir(c"/".as_ptr()) })?;
        set_attrs(c"/", READ, false)?;
        check(unsafe { libc::chdir(self.workdir.as_ptr()) })
    }
}

impl Drop for PrivateRoot {
    fn drop(&mut self) {
        if let Some(dir) = self.mount_dir.take() {
            // If no thread can be had, it is removed here.
            let _ = std::thread::Builder::new()
                .name("flowbot-root-rm".into())
                .spawn(move || drop(dir));
        }
    }
}

/// The entries of the new root for `view`, sorted (a folder before what is
/// in it), merged (one path, the widest access) and without those a bind
/// of a folder above them already gives.
fn entries(view: &View<'_>) -> std::io::Result<Vec<Entry>> {
    let mut wanted: Vec<Entry> = Vec::new();
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                wanted.push(Entry::new(
                    path.to_path_buf(),
                    What::Symlink(std::fs::read_link(path)?),
                    None,
                ));
            }
            Ok(meta) if meta.is_dir() => {
                wanted.push(Entry::new(path.to_path_buf(), What::Bind(READ), None))
            }
            _ => {}
        }
    }
    for file in ETC {
        wanted.push(Entry::new(PathBuf::from(file), What::Bind(READ), None));
    }
    wanted.push(Entry::new("/dev/null".into(), What::Bind(DEVICE), None));
    wanted.push(Entry::new(
        "/dev/urandom".into(),
        What::Bind(DEVICE | RDONLY),
        None,
    ));
    wanted.push(Entry::new(
        view.binary.to_path_buf(),
        What::Bind(READ),
        None,
    ));
    wanted.push(Entry::new(
        view.plugin_dir.to_path_buf(),
        What::Bind(READ),
        None,
    ));
    for path in &view.writable {
        wanted.push(Entry::new(
            std::path::absolute(path)?,
            What::Bind(WRITE),
            None,
        ));
    }
    for folder in &view.granted {
        let attrs = match folder.mode {
            FsMode::Read => READ,
            FsMode::ReadWrite => WRITE,
        };
        wanted.push(Entry::new(
            std::path::absolute(&folder.path)?,
            What::Bind(attrs),
            Some(folder.identity),
        ));
    }
    // What does not exist is skipped, as Landlock skips it.
    wanted.retain(|e| matches!(e.what, What::Symlink(_)) || e.path.exists());
    wanted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut entries: Vec<Entry> = Vec::new();
    for Entry { path, what, expect } in wanted {
        if let Some(last) = entries.last_mut()
            && last.path == path
        {
            // The same path twice: the union of the two, as Landlock's
            // rules are, checked when either is a granted folder.
            if let (What::Bind(a), What::Bind(b)) = (&last.what, &what) {
                last.what = What::Bind(a & b);
            }
            if last.expect.is_none() {
                last.expect = expect;
            }
            continue;
        }
        // A bind above it with no more restrictions already shows it.
        let covered = entries.iter().any(|e| {
            matches!((&e.what, &what), (What::Bind(above), What::Bind(own)) if path.starts_with(&e.path) && above & !own == 0)
        });
        if !covered {
            entries.push(Entry { path, what, expect });
        }
    }
    Ok(entries)
}

/// Whether what is mounted at `target` is the folder of device and inode
/// `expect`; `ESTALE` if not (the granted folder was swapped between the
/// grant's check and this bind). System calls only.
#[allow(unsafe_code, clippy::unnecessary_cast)]
fn bound_is(target: &std::ffi::CStr, expect: (u64, u64)) -> std::io::Result<()> {
    // SAFETY: a NUL-terminated path and a zeroed `stat` the call fills.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(unsafe { libc::lstat(target.as_ptr(), &mut st) })?;
    if (st.st_dev as u64, st.st_ino as u64) == expect {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(libc::ESTALE))
    }
}

/// Whether this host can give a plugin a private root, and if not, why:
/// tried once in a short-lived child (a mount and a network namespace, a
/// user namespace when `user_ns`, private propagation and
/// `mount_setattr`).
pub(super) fn available(user_ns: bool) -> Result<(), String> {
    static PROBED: OnceLock<[OnceLock<Result<(), String>>; 2]> = OnceLock::new();
    let cache = PROBED.get_or_init(Default::default);
    cache[usize::from(user_ns)]
        .get_or_init(|| probe(user_ns))
        .clone()
}

/// Whether the host lacks `CAP_SYS_ADMIN`, so a plugin's mount namespace
/// needs a user namespace of its own.
pub(super) fn needs_user_ns() -> bool {
    rustix::thread::capabilities(None).map_or(true, |caps| {
        !caps
            .effective
            .contains(rustix::thread::CapabilitySet::SYS_ADMIN)
    })
}

/// Forks a child that tries the namespace steps and exits with the step
/// that failed (0: none) times 40 plus its errno (up to 39: `ENOSYS` is 38).
#[allow(unsafe_code)]
fn probe(user_ns: bool) -> Result<(), String> {
    let maps = {
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        (
            format!("{uid} {uid} 1\n").into_bytes(),
            format!("{gid} {gid} 1\n").into_bytes(),
        )
    };
    // SAFETY: the child only makes system calls and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let step = || -> Result<(), u8> {
            // A network namespace too: a plugin without network gets one.
            let flags = libc::CLONE_NEWNS
                | libc::CLONE_NEWNET
                | if user_ns { libc::CLONE_NEWUSER } else { 0 };
            // SAFETY: takes no pointer.
            check(unsafe { libc::unshare(flags) }).map_err(|_| 1u8)?;
            if user_ns {
                write_file(c"/proc/self/setgroups", b"deny").map_err(|_| 2u8)?;
                write_file(c"/proc/self/uid_map", &maps.0).map_err(|_| 2u8)?;
                write_file(c"/proc/self/gid_map", &maps.1).map_err(|_| 2u8)?;
            }
            mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).map_err(|_| 3u8)?;
            set_attrs(c"/", NOSUID, false).map_err(|_| 4u8)?;
            Ok(())
        };
        let code = match step() {
            Ok(()) => 0,
            Err(step) => i32::from(step) * 40 + errno().clamp(0, 39),
        };
        // SAFETY: ends the child without running the host's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {
        if errno() != libc::EINTR {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
    }
    if !libc::WIFEXITED(status) {
        return Err("the probe did not exit".to_owned());
    }
    let code = libc::WEXITSTATUS(status);
    let what = match code / 40 {
        0 => return Ok(()),
        1 if user_ns => "unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUSER)",
        1 => "unshare(CLONE_NEWNS | CLONE_NEWNET)",
        2 => "writing the user namespace's id maps",
        3 => "making mounts private",
        _ => "mount_setattr",
    };
    let errno = code % 40;
    let reason = match errno {
        0 => String::new(),
        n => format!(": {}", std::io::Error::from_raw_os_error(n)),
    };
    Err(format!("{what} failed{reason}"))
}

/// `errno` of the last failed call.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `Ok` for a system call's non-negative answer; the OS error otherwise
/// (no allocation: a raw OS error).
fn check(result: libc::c_int) -> std::io::Result<()> {
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mount(2)` with prepared strings.
#[allow(unsafe_code)]
fn mount(
    source: Option<&std::ffi::CStr>,
    target: &std::ffi::CStr,
    fstype: Option<&std::ffi::CStr>,
    flags: libc::c_ulong,
    data: Option<&std::ffi::CStr>,
) -> std::io::Result<()> {
    let ptr = |s: Option<&std::ffi::CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: NUL-terminated strings or NULL, as mount(2) takes them.
    check(unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    })
}

/// Sets `attrs` on the mount at `path` (and, `recursive`, every mount
/// beneath it) with `mount_setattr(2)`.
#[allow(unsafe_code)]
fn set_attrs(path: &std::ffi::CStr, attrs: u64, recursive: bool) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a NUL-terminated path and a `struct mount_attr` of the size
    // given.
    let result = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &raw const attr,
            size_of::<MountAttr>(),
        )
    };
    check(result as libc::c_int)
}

/// Writes `bytes` to the file at `path` (a `/proc` control file).
#[allow(unsafe_code)]
fn write_file(path: &std::ffi::CStr, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    check(fd)?;
    // SAFETY: `bytes` is valid for its length.
    let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    let error = (written != bytes.len() as isize).then(std::io::Error::last_os_error);
    // SAFETY: the descriptor opened above.
    unsafe { libc::close(fd) };
    error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::GrantedFolder;

    #[test]
    fn entries_merge_and_skip_what_a_bind_above_covers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let plugin = root.join("plugin");
        let home = root.join("plugin/home");
        let data = root.join("data");
        let inner = root.join("data/inner");
        for d in [&plugin, &home, &data, &inner] {
            std::fs::create_dir_all(d).unwrap();
        }
        let binary = plugin.join("bin");
        std::fs::write(&binary, "").unwrap();
        let view = View {
            binary: &binary,
            plugin_dir: &plugin,
            writable: vec![&home],
            granted: [(&data, FsMode::ReadWrite), (&inner, FsMode::Read)]
                .into_iter()
                .map(|(path, mode)| GrantedFolder {
                    path: path.clone(),
                    handle: path.clone(),
                    identity: (0, 0),
                    mode,
                })
                .collect(),
            connect: &[],
            bind: 1..=2,
        };
        let entries = entries(&view).unwrap();
        let ours: Vec<(&Path, u64)> = entries
            .iter()
            .filter(|e| e.path.starts_with(&root))
            .map(|e| match e.what {
                What::Bind(attrs) => (e.path.as_path(), attrs),
                What::Symlink(_) => unreachable!(),
            })
            .collect();
        // The binary is inside its (read-only) folder; a read grant inside
        // a read-write one adds nothing; a writable folder inside a
        // read-only one is its own bind.
        assert_eq!(
            ours,
            [
                (data.as_path(), WRITE),
                (plugin.as_path(), READ),
                (home.as_path(), WRITE)
            ]
        );
    }
}
