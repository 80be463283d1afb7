//! A control group of its own for each plugin process: the kernel caps its
//! memory (the OOM killer ends it, and only it, past the cap), its
//! processes and threads (`fork` fails with `EAGAIN` past the cap) and,
//! when a cap is granted, its CPU time (the scheduler throttles it past its
//! quota of every 100 ms period).
//!
//! Which hierarchy is used:
//! - cgroup v2, when the host's own group delegates the `memory` and `pids`
//!   controllers to its children (`cgroup.subtree_control` lists them), with
//!   `cpu.max` where `cpu` is delegated too;
//! - otherwise cgroup v1's `memory`, `pids` and `cpu` hierarchies, each when
//!   mounted and writable (a host running as root on a v1 or hybrid system);
//! - otherwise none: the caller falls back to `RLIMIT_AS` and `RLIMIT_NPROC`,
//!   and has no CPU cap.
//!
//! The group is made next to the host's own (`<host group>/flowbot-<plugin>-
//! <host pid>-<n>`). The child joins it between `fork` and `exec` by writing
//! `0` to an already open `cgroup.procs`, so everything it ever starts is in
//! it; when the plugin ends, what is left in the group is killed and the
//! group removed.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use plugin_types::{ByteSize, Cores};

/// Where groups can be made, found once per host process.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    /// The host's v2 group, with `memory` and `pids` delegated, and `cpu`
    /// if `cpu` says so.
    V2 { dir: PathBuf, cpu: bool },
    /// The host's v1 `memory`, `pids` and `cpu` groups, each if writable.
    V1 {
        memory: Option<PathBuf>,
        pids: Option<PathBuf>,
        cpu: Option<PathBuf>,
    },
}

/// A plugin's group (one folder on v2, one per hierarchy on v1).
#[derive(Debug)]
pub(crate) struct PluginCgroup {
    /// `v2` or `v1`.
    version: u8,
    memory_dir: Option<PathBuf>,
    pids_dir: Option<PathBuf>,
    cpu_dir: Option<PathBuf>,
    /// Open `cgroup.procs` files the child writes `0` to.
    procs: Vec<File>,
    /// The memory cap.
    memory: ByteSize,
}

/// What [`PluginCgroup::create`] could cap.
#[derive(Debug, Default)]
pub(crate) struct Capped {
    /// The group, if one was made.
    pub(crate) group: Option<PluginCgroup>,
    /// How memory is capped, if it is (`cgroup v2 memory.max`).
    pub(crate) memory: Option<&'static str>,
    /// How processes are capped, if they are.
    pub(crate) pids: Option<&'static str>,
    /// How CPU time is capped, if it is.
    pub(crate) cpu: Option<&'static str>,
}

/// The controllers [`PluginCgroup::create`] would use on this host: how
/// memory, processes and CPU time would each be capped.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Controllers {
    /// `cgroup v2 memory.max`, ...
    pub(crate) memory: Option<&'static str>,
    /// `cgroup v2 pids.max`, ...
    pub(crate) pids: Option<&'static str>,
    /// `cgroup v2 cpu.max`, ...
    pub(crate) cpu: Option<&'static str>,
}

const V2_MEMORY: &str = "cgroup v2 memory.max";
const V2_PIDS: &str = "cgroup v2 pids.max";
const V1_MEMORY: &str = "cgroup v1 memory.limit_in_bytes";
const V1_PIDS: &str = "cgroup v1 pids.max";
const V2_CPU: &str = "cgroup v2 cpu.max";
const V1_CPU: &str = "cgroup v1 cpu.cfs_quota_us";

/// The scheduler period the CPU quota is a share of: 100 ms.
const CPU_PERIOD_US: u64 = 100_000;

/// The quota, in microseconds of every [`CPU_PERIOD_US`], of a cap.
fn cpu_quota_us(cap: Cores) -> u64 {
    u64::from(cap.as_millis()) * CPU_PERIOD_US / 1000
}

/// How memory, processes and CPU time would be capped on this host (by
/// [`PluginCgroup::create`]), without making a group.
pub(crate) fn available() -> Controllers {
    match layout() {
        Some(Layout::V2 { cpu, .. }) => Controllers {
            memory: Some(V2_MEMORY),
            pids: Some(V2_PIDS),
            cpu: cpu.then_some(V2_CPU),
        },
        Some(Layout::V1 { memory, pids, cpu }) => Controllers {
            memory: memory.is_some().then_some(V1_MEMORY),
            pids: pids.is_some().then_some(V1_PIDS),
            cpu: cpu.is_some().then_some(V1_CPU),
        },
        None => Controllers::default(),
    }
}

impl PluginCgroup {
    /// Makes a group for `plugin` capped at `memory` bytes, `pids`
    /// processes and threads and, if given, `cpu` cores of CPU time, in
    /// whichever hierarchy the host can use.
    pub(crate) fn create(plugin: &str, cap: ByteSize, pids: u32, cpu: Option<Cores>) -> Capped {
        let memory = cap.bytes();
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "flowbot-{plugin}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut capped = Capped::default();
        let mut group = PluginCgroup {
            version: 2,
            memory_dir: None,
            pids_dir: None,
            cpu_dir: None,
            procs: Vec::new(),
            memory: cap,
        };
        match layout() {
            Some(Layout::V2 {
                dir: base,
                cpu: cpu_delegated,
            }) => {
                let dir = base.join(&name);
                let mut settings = vec![
                    ("memory.max", memory.to_string()),
                    ("memory.swap.max", "0".to_owned()),
                    ("pids.max", pids.to_string()),
                ];
                let cpu = cpu.filter(|_| cpu_delegated);
                if let Some(cap) = cpu {
                    settings.push(("cpu.max", format!("{} {CPU_PERIOD_US}", cpu_quota_us(cap))));
                }
                if let Some(procs) = make(&dir, &settings) {
                    group.procs.push(procs);
                    group.memory_dir = Some(dir.clone());
                    group.pids_dir = Some(dir);
                    capped.memory = Some(V2_MEMORY);
                    capped.pids = Some(V2_PIDS);
                    capped.cpu = cpu.map(|_| V2_CPU);
                }
            }
            Some(Layout::V1 {
                memory: memory_base,
                pids: pids_base,
                cpu: cpu_base,
            }) => {
                group.version = 1;
                if let Some(base) = memory_base {
                    let dir = base.join(&name);
                    if let Some(procs) =
                        make(&dir, &[("memory.limit_in_bytes", memory.to_string())])
                    {
                        // Swap counts too where the kernel accounts it.
                        let _ = write(
                            &dir.join("memory.memsw.limit_in_bytes"),
                            &memory.to_string(),
                        );
                        group.procs.push(procs);
                        group.memory_dir = Some(dir);
                        capped.memory = Some(V1_MEMORY);
                    }
                }
                if let Some(base) = pids_base {
                    let dir = base.join(&name);
                    if let Some(procs) = make(&dir, &[("pids.max", pids.to_string())]) {
                        group.procs.push(procs);
                        group.pids_dir = Some(dir);
                        capped.pids = Some(V1_PIDS);
                    }
                }
                if let (Some(base), Some(cap)) = (cpu_base, cpu) {
                    let dir = base.join(&name);
                    let settings = [
                        ("cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
                        ("cpu.cfs_quota_us", cpu_quota_us(cap).to_string()),
                    ];
                    if let Some(procs) = make(&dir, &settings) {
                        group.procs.push(procs);
                        group.cpu_dir = Some(dir);
                        capped.cpu = Some(V1_CPU);
                    }
                }
            }
            None => {}
        }
        if !group.procs.is_empty() {
            capped.group = Some(group);
        }
        capped
    }

    /// Moves the calling process into the group (in the child, before
    /// `exec`): one `write` per hierarchy, no allocation.
    pub(crate) fn join(&self) -> std::io::Result<()> {
        for procs in &self.procs {
            rustix::io::write(procs, b"0")?;
        }
        Ok(())
    }

    /// `Some(cap)` when the kernel's OOM killer ended a process of the
    /// group, which was capped at `cap`.
    pub(crate) fn out_of_memory(&self) -> Option<ByteSize> {
        let dir = self.memory_dir.as_ref()?;
        let file = if self.version == 2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let killed = std::fs::read_to_string(dir.join(file)).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        });
        killed.then_some(self.memory)
    }

    /// Kills every process left in the group.
    pub(crate) fn kill_all(&self) {
        for dir in self.dirs() {
            let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
                continue;
            };
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }

    /// Kills what is left and removes the group, retrying for up to `wait`
    /// while the kernel reaps the processes. Blocking.
    pub(crate) fn remove(&self, wait: Duration) {
        let deadline = std::time::Instant::now() + wait;
        loop {
            self.kill_all();
            let left = self
                .dirs()
                .filter(|dir| dir.exists() && std::fs::remove_dir(dir).is_err())
                .count();
            if left == 0 || std::time::Instant::now() >= deadline {
                if left > 0 {
                    tracing::warn!(
                        "a plugin's control group could not be removed: processes remain"
                    );
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The folders of the group.
    fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        let pids = self
            .pids_dir
            .as_ref()
            .filter(|p| Some(*p) != self.memory_dir.as_ref());
        self.memory_dir
            .iter()
            .chain(pids)
            .chain(self.cpu_dir.iter())
    }
}

impl Drop for PluginCgroup {
    /// Kills what is left; removes the group now if it is empty, or from a
    /// short-lived thread once the kernel has reaped what was killed.
    fn drop(&mut self) {
        self.kill_all();
        let left: Vec<PathBuf> = self
            .dirs()
            .filter(|dir| dir.exists() && std::fs::remove_dir(dir).is_err())
            .cloned()
            .collect();
        if !left.is_empty() {
            let _ = std::thread::Builder::new()
                .name("plugin-cgroup-cleanup".into())
                .spawn(move || {
                    for _ in 0..100 {
                        if left
                            .iter()
                            .all(|d| !d.exists() || std::fs::remove_dir(d).is_ok())
                        {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                });
        }
    }
}

/// Removes the empty groups that hosts no longer running left behind in
/// `base` (a host killed before it could remove them).
fn sweep(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(host) = name
            .to_str()
            .and_then(|n| n.strip_prefix("flowbot-"))
            .and_then(|n| n.rsplit('-').nth(1))
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = rustix::process::Pid::from_raw(host)
            .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok());
        if !alive {
            // Fails, harmlessly, while processes remain in it.
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// Makes `dir` with `settings` written in it, and opens its `cgroup.procs`;
/// `None` (and nothing left behind) when any step fails.
fn make(dir: &Path, settings: &[(&str, String)]) -> Option<File> {
    std::fs::create_dir(dir).ok()?;
    let opened = settings
        .iter()
        .try_for_each(|(file, value)| write(&dir.join(file), value))
        .and_then(|()| File::options().write(true).open(dir.join("cgroup.procs")));
    match opened {
        Ok(procs) => Some(procs),
        Err(e) => {
            tracing::debug!("cannot use the control group {}: {e}", dir.display());
            let _ = std::fs::remove_dir(dir);
            None
        }
    }
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    File::options()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}

/// The hierarchy groups can be made in, found once.
fn layout() -> Option<Layout> {
    static LAYOUT: OnceLock<Option<Layout>> = OnceLock::new();
    LAYOUT
        .get_or_init(|| {
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            let groups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
            detect(&mounts, &groups, |dir| {
                // A folder the host can make groups in.
                let probe = dir.join(format!("flowbot-probe-{}", std::process::id()));
                let usable = std::fs::create_dir(&probe)
                    .and_then(|()| std::fs::remove_dir(&probe))
                    .is_ok();
                if usable {
                    sweep(dir);
                }
                usable
            })
        })
        .clone()
}

/// Works out the layout from `/proc/self/mountinfo` and `/proc/self/cgroup`;
/// `usable` says whether groups can be made in a folder.
fn detect(mounts: &str, groups: &str, usable: impl Fn(&Path) -> bool) -> Option<Layout> {
    // (mount point, root of the mount, super options) per cgroup mount.
    let mut v2 = None;
    let mut v1: Vec<(PathBuf, String, String)> = Vec::new();
    for line in mounts.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = left.split(' ').collect();
        let theirs: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(point), Some(fstype)) =
            (fields.get(3), fields.get(4), theirs.first())
        else {
            continue;
        };
        match *fstype {
            "cgroup2" => v2 = Some((PathBuf::from(point), (*root).to_owned())),
            "cgroup" => v1.push((
                PathBuf::from(point),
                (*root).to_owned(),
                theirs.get(2).copied().unwrap_or_default().to_owned(),
            )),
            _ => {}
        }
    }
    let own = |controller: &str| {
        groups.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
            let ok = if controller.is_empty() {
                list.is_empty()
            } else {
                list.split(',').any(|c| c == controller)
            };
            ok.then(|| path.to_owned())
        })
    };
    let under = |point: &Path, root: &str, path: &str| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        point.join(rel.trim_start_matches('/'))
    };
    if let (Some((point, root)), Some(path)) = (&v2, own("")) {
        let base = under(point, root, &path);
        let delegated = std::fs::read_to_string(base.join("cgroup.subtree_control"))
            .map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .unwrap_or_default();
        let has = |c: &str| delegated.iter().any(|d| d == c);
        if has("memory") && has("pids") && usable(&base) {
            return Some(Layout::V2 {
                dir: base,
                cpu: has("cpu"),
            });
        }
    }
    let hierarchy = |controller: &str| {
        let (point, root, _) = v1
            .iter()
            .find(|(_, _, options)| options.split(',').any(|o| o == controller))?;
        let base = under(point, root, &own(controller)?);
        usable(&base).then_some(base)
    };
    let (memory, pids, cpu) = (hierarchy("memory"), hierarchy("pids"), hierarchy("cpu"));
    (memory.is_some() || pids.is_some()).then_some(Layout::V1 { memory, pids, cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 1 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
30 25 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 25 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
32 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn finds_the_v1_groups_of_a_hybrid_system() {
        let groups = "8:pids:/\n4:memory:/box/1\n2:cpu,cpuacct:/box\n0::/\n";
        let layout = detect(HYBRID, groups, |_| true);
        assert_eq!(
            layout,
            Some(Layout::V1 {
                memory: Some("/sys/fs/cgroup/memory/box/1".into()),
                pids: Some("/sys/fs/cgroup/pids/".into()),
                cpu: Some("/sys/fs/cgroup/cpu,cpuacct/box".into()),
            })
        );
        assert_eq!(detect(HYBRID, groups, |_| false), None);
    }

    #[test]
    fn takes_v2_only_where_memory_and_pids_are_delegated() {
        let dir = tempfile::tempdir().unwrap();
        let mounts = format!(
            "26 1 0:24 / {} rw - cgroup2 cgroup2 rw\n",
            dir.path().display()
        );
        std::fs::create_dir(dir.path().join("host")).unwrap();
        std::fs::write(
            dir.path().join("host/cgroup.subtree_control"),
            "cpu memory\n",
        )
        .unwrap();
        assert_eq!(detect(&mounts, "0::/host\n", |_| true), None);
        std::fs::write(
            dir.path().join("host/cgroup.subtree_control"),
            "memory pids\n",
        )
        .unwrap();
        assert_eq!(
            detect(&mounts, "0::/host\n", |_| true),
            Some(Layout::V2 {
                dir: dir.path().join("host"),
                cpu: false
            })
        );
        std::fs::write(
            dir.path().join("host/cgroup.subtree_control"),
            "cpu memory pids\n",
        )
        .unwrap();
        assert_eq!(
            detect(&mounts, "0::/host\n", |_| true),
            Some(Layout::V2 {
                dir: dir.path().join("host"),
                cpu: true
            })
        );
    }
}
