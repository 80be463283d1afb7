//! Confining a plugin process with the kernel's own mechanisms: what the
//! manifest asked and the host granted ([`ProcessGrant`]), enforced.
//!
//! [`Confinement::new`] runs in the host before the fork: it finds what the
//! kernel supports, builds the Landlock ruleset (`landlock`), compiles the
//! seccomp filter (`seccomp`), makes the plugin's control group (`cgroup`)
//! or picks the resource limits that stand in for it, and writes the
//! [`ConfinementReport`]; it also prepares the private root (`root`).
//! [`Confinement::restrict`] runs in the child between `fork` and `exec`
//! and only makes system calls:
//! 1. no new privileges (no setuid, no file capabilities), no core dumps, at
//!    most [`MAX_OPEN_FILES`] open files;
//! 2. join the control group, or set `RLIMIT_AS`/`RLIMIT_NPROC`;
//! 3. a private root: a mount namespace showing only its own folders, the
//!    granted ones and the system's, so no other named unix socket is
//!    reachable; then no capabilities at all (`capabilities`), root or not;
//! 4. Landlock: files, TCP ports, signal and abstract-socket scopes;
//! 5. seccomp: socket families, types and protocols, no TCP Fast Open, no
//!    `ptrace` nor `process_vm_*`, no `io_uring`, no x32 calls.
//!
//! A mechanism the kernel lacks is reported as not enforced: a warning
//! under [`Enforcement::Warn`], a refusal to start the plugin under
//! [`Enforcement::Strict`]. [`Enforcement::Off`] (the operator's explicit
//! choice) applies none of it but the scrubbed environment, no core dumps
//! and no new privileges.

mod capabilities;
mod cgroup;
mod landlock;
mod measures;
mod root;
mod seccomp;
#[cfg(test)]
mod tests;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::landlock::RulesetCreated;
use plugin_core::{Granted, Preopen, ProcessGrant};
use plugin_types::permissions::Enforcement;
use plugin_types::{ConfinementReport, Measure, PermissionPolicy};
use rustix::process::{Resource, Rlimit};
use seccompiler::BpfProgram;

pub(crate) use cgroup::PluginCgroup;
pub(crate) use landlock::{GrantedFolder, SYSTEM_DIRS, View};
use root::PrivateRoot;

/// The cap on a plugin's open files (`RLIMIT_NOFILE`), or the host's own
/// hard limit if that is lower.
pub(crate) const MAX_OPEN_FILES: u64 = 4096;

/// What to confine a plugin process to.
pub(crate) struct Spec<'a> {
    /// The plugin's name (it names its control group).
    pub(crate) plugin: &'a str,
    /// The files and ports it may reach.
    pub(crate) view: View<'a>,
    /// What the host granted it.
    pub(crate) grant: &'a ProcessGrant,
    /// Whether it may have a network namespace of its own (no interface):
    /// it was granted no TCP port and listens on a unix socket.
    pub(crate) own_network: bool,
}

/// A confinement ready to be applied in the child.
pub(crate) struct Confinement {
    ruleset: Option<RulesetCreated>,
    filter: Option<BpfProgram>,
    cgroup: Option<Arc<PluginCgroup>>,
    /// The private root, when the kernel can make one.
    root: Option<PrivateRoot>,
    /// Whether the child drops every capability (not with confinement off).
    drop_capabilities: bool,
    /// Limits set in the child, worked out before the fork.
    rlimits: Vec<(Resource, u64)>,
    report: ConfinementReport,
}

/// The host's policy is strict and the kernel cannot enforce a measure.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// A measure the kernel does not enforce.
    #[error(
        "{what} cannot be confined here ({how}) and the host's policy is strict; to run it anyway, set {}: warn",
        PermissionPolicy::policy_setting("confinement")
    )]
    NotEnforced {
        /// What is not confined.
        what: String,
        /// Why not.
        how: String,
    },
    /// Building the Landlock ruleset, the seccomp filter or the private
    /// root failed.
    #[error("preparing {what}: {reason}")]
    Prepare {
        /// `the Landlock ruleset`, `the seccomp filter` or `the private root`.
        what: &'static str,
        /// The error.
        reason: String,
    },
}

impl Confinement {
    /// Prepares the confinement for `spec` (in the host).
    pub(crate) fn new(spec: &Spec<'_>) -> Result<Self, ConfineError> {
        let grant = spec.grant;
        if grant.enforcement == Enforcement::Off {
            return Ok(Self::off(spec.plugin));
        }
        let kernel = Kernel::detect();
        let ruleset = landlock::ruleset(&spec.view).map_err(|e| ConfineError::Prepare {
            what: "the Landlock ruleset",
            reason: e.to_string(),
        })?;
        let capped = PluginCgroup::create(spec.plugin, grant.memory, grant.processes, grant.cpu);
        let own_network = spec.own_network && kernel.private_root.is_ok();
        let plan = plan(
            &kernel,
            &Ask {
                grant,
                connect: spec.view.connect,
                folders: spec.view.granted.len(),
                bind: spec.view.bind.clone(),
                own_network,
                memory_by: capped.memory,
                pids_by: capped.pids,
                cpu_by: capped.cpu,
            },
        );
        let filter = match kernel.arch {
            Some(arch) if kernel.seccomp => Some(seccomp::filter(plan.sockets, arch).map_err(
                |e| ConfineError::Prepare {
                    what: "the seccomp filter",
                    reason: e.to_string(),
                },
            )?),
            _ => None,
        };
        let root = match &kernel.private_root {
            Ok(()) => Some(
                PrivateRoot::new(&spec.view, kernel.user_ns, own_network).map_err(|e| {
                    ConfineError::Prepare {
                        what: "the private root",
                        reason: e.to_string(),
                    }
                })?,
            ),
            Err(_) => None,
        };
        let confinement = Self {
            ruleset: (kernel.landlock_abi >= 1).then_some(ruleset),
            filter,
            cgroup: capped.group.map(Arc::new),
            root,
            drop_capabilities: true,
            rlimits: plan.rlimits,
            report: plan.report,
        };
        for missing in confinement.report.missing() {
            if grant.enforcement == Enforcement::Strict {
                return Err(ConfineError::NotEnforced {
                    what: missing.what.clone(),
                    how: missing.how.clone(),
                });
            }
            tracing::warn!(plugin = spec.plugin, "{missing}");
        }
        Ok(confinement)
    }

    /// The host's policy turned confinement off: the environment is
    /// scrubbed, nothing else.
    fn off(plugin: &str) -> Self {
        tracing::warn!(
            plugin,
            "not confined: the host's policy says {}: off",
            PermissionPolicy::policy_setting("confinement")
        );
        let files = Kernel::files();
        Self {
            ruleset: None,
            filter: None,
            cgroup: None,
            root: None,
            drop_capabilities: false,
            rlimits: vec![(Resource::Core, 0), (Resource::Nofile, files)],
            report: off_report(),
        }
    }

    /// What is applied, for logs, `pluginctl list` and the admin API.
    pub(crate) fn report(&self) -> &ConfinementReport {
        &self.report
    }

    /// Whether the plugin gets a network namespace of its own (then it
    /// cannot listen on TCP where the host can reach it).
    pub(crate) fn own_network(&self) -> bool {
        self.root.as_ref().is_some_and(PrivateRoot::own_network)
    }

    /// The plugin's control group, if it has one.
    pub(crate) fn cgroup(&self) -> Option<Arc<PluginCgroup>> {
        self.cgroup.clone()
    }

    /// Applies the confinement to the calling process (in the child, before
    /// `exec`): system calls only, no allocation on success.
    pub(crate) fn restrict(&mut self) -> std::io::Result<()> {
        rustix::thread::set_no_new_privs(true)?;
        if let Some(cgroup) = &self.cgroup {
            cgroup.join()?;
        }
        for (resource, value) in &self.rlimits {
            let limit = Rlimit {
                current: Some(*value),
                maximum: Some(*value),
            };
            rustix::process::setrlimit(*resource, limit)?;
        }
        // Before Landlock, which forbids changing mounts.
        if let Some(root) = &self.root {
            root.enter()?;
        }
        // After the mounts, which need them.
        if self.drop_capabilities {
            capabilities::drop_all()?;
        }
        if let Some(ruleset) = self.ruleset.take() {
            landlock::restrict(ruleset, self.root.is_none())?;
        }
        if let Some(filter) = &self.filter {
            seccomp::apply(filter)?;
        }
        Ok(())
    }
}

/// What the kernel of this host supports.
struct Kernel {
    /// The Landlock ABI; 0 without Landlock.
    landlock_abi: i32,
    /// Whether seccomp filters can be loaded.
    seccomp: bool,
    /// The seccomp architecture of this build.
    arch: Option<seccompiler::TargetArch>,
    /// Whether plugins run as root (whom `RLIMIT_NPROC` does not bind).
    root: bool,
    /// The host's own hard limit on open files.
    files: u64,
    /// Whether a plugin's mount namespace needs a user namespace (the host
    /// lacks `CAP_SYS_ADMIN`).
    user_ns: bool,
    /// Whether a private root can be made here; if not, why.
    private_root: Result<(), String>,
}

impl Kernel {
    fn detect() -> Self {
        let user_ns = root::needs_user_ns();
        Self {
            landlock_abi: landlock::kernel_abi(),
            seccomp: seccomp::kernel_has_seccomp(),
            arch: seccomp::arch(),
            root: rustix::process::geteuid().is_root(),
            files: Self::files(),
            user_ns,
            private_root: root::available(user_ns),
        }
    }

    /// The host's own hard limit on open files, capped at
    /// [`MAX_OPEN_FILES`].
    fn files() -> u64 {
        rustix::process::getrlimit(Resource::Nofile)
            .maximum
            .map_or(MAX_OPEN_FILES, |hard| hard.min(MAX_OPEN_FILES))
    }
}

/// What is to be confined, and how memory and processes can be capped.
struct Ask<'a> {
    grant: &'a ProcessGrant,
    /// TCP ports it may connect to.
    connect: &'a [u16],
    /// How many folders were granted beyond its own.
    folders: usize,
    /// Its go-plugin port range.
    bind: RangeInclusive<u16>,
    /// Whether it gets a network namespace of its own.
    own_network: bool,
    /// The control group capping memory, if any.
    memory_by: Option<&'static str>,
    /// The control group capping processes, if any.
    pids_by: Option<&'static str>,
    /// The control group capping CPU time, if any.
    cpu_by: Option<&'static str>,
}

/// What [`plan`] decides.
struct Plan {
    report: ConfinementReport,
    sockets: seccomp::Sockets,
    rlimits: Vec<(Resource, u64)>,
}

/// Decides, from what the kernel supports, how each thing is confined and
/// whether it is enforced. Pure: the launch and [`preview`] share it.
fn plan(kernel: &Kernel, ask: &Ask<'_>) -> Plan {
    let grant = ask.grant;
    let abi = kernel.landlock_abi;
    let mut report = ConfinementReport::default();
    let mut measure = |what: &str, how: String, enforced: bool| {
        report.measures.push(Measure {
            what: what.to_owned(),
            how,
            enforced,
        });
    };
    measure(
        "environment",
        format!(
            "scrubbed: PATH, LANG, LC_*, TZ, SSL_CERT_* kept; HOME and TMPDIR its own; {} from grpc.env",
            grant.env.len()
        ),
        true,
    );
    let filters = kernel.seccomp && kernel.arch.is_some();
    let (how, enforced) = measures::privileges(filters);
    measure("privileges", how, enforced);
    measure("files", format!("RLIMIT_NOFILE {}", kernel.files), true);
    let (how, enforced) = measures::filesystem(abi, ask.folders);
    measure("filesystem", how, enforced);
    let namespace = if kernel.user_ns {
        "mount and user namespace"
    } else {
        "mount namespace"
    };
    match &kernel.private_root {
        Ok(()) => measure(
            "mounts",
            format!(
                "a private root ({namespace}, pivot_root): its folders, the granted ones and the system's, at their host paths; no /proc, no other named unix socket"
            ),
            true,
        ),
        Err(why) => measure(
            "mounts",
            format!(
                "none: no private root here ({why}); named unix sockets outside its folders (other plugins', the host's) are reachable"
            ),
            false,
        ),
    }
    let (sockets, how, enforced) = measures::network(
        abi,
        filters,
        &measures::NetworkAsk {
            connect: ask.connect,
            bind: &ask.bind,
            udp: grant.udp,
        },
    );
    let how = if ask.own_network {
        format!("{how}; a network namespace of its own, with no interface")
    } else {
        how
    };
    measure("network", how, enforced);
    let (how, enforced) = measures::isolation(abi);
    measure("isolation", how, enforced);
    let mut rlimits = vec![(Resource::Core, 0), (Resource::Nofile, kernel.files)];
    match ask.memory_by {
        Some(how) => measure("memory", format!("{how} {}", grant.memory), true),
        None => {
            rlimits.push((Resource::As, grant.memory.bytes()));
            measure(
                "memory",
                format!(
                    "RLIMIT_AS {} (address space; no cgroup available)",
                    grant.memory
                ),
                true,
            );
        }
    }
    match ask.pids_by {
        Some(how) => measure("processes", format!("{how} {}", grant.processes), true),
        None => {
            rlimits.push((Resource::Nproc, u64::from(grant.processes)));
            let how = if kernel.root {
                format!(
                    "RLIMIT_NPROC {}, which does not bind root, and no cgroup available",
                    grant.processes
                )
            } else {
                format!(
                    "RLIMIT_NPROC {} (counts all of the user's processes)",
                    grant.processes
                )
            };
            measure("processes", how, !kernel.root);
        }
    }
    let (how, enforced) = measures::cpu(grant.cpu, ask.cpu_by);
    measure("cpu", how, enforced);
    Plan {
        report,
        sockets,
        rlimits,
    }
}

/// What a plugin gets when the host's policy turns confinement off.
fn off_report() -> ConfinementReport {
    let measure = |what: &str, how: &str, enforced| Measure {
        what: what.to_owned(),
        how: how.to_owned(),
        enforced,
    };
    ConfinementReport {
        measures: vec![
            measure("environment", "scrubbed", true),
            measure(
                "confinement",
                &format!(
                    "off: {} is off",
                    PermissionPolicy::policy_setting("confinement")
                ),
                false,
            ),
        ],
    }
}

/// The confinement a plugin process granted `granted` would get on this
/// host, without starting it: for `pluginctl list` and `validate`.
pub fn preview(granted: &Granted) -> ConfinementReport {
    let grant = granted.process.clone().unwrap_or_default();
    if grant.enforcement == Enforcement::Off {
        return off_report();
    }
    let controllers = cgroup::available();
    plan(
        &Kernel::detect(),
        &Ask {
            grant: &grant,
            connect: &granted.connect,
            folders: granted.filesystem.len(),
            bind: port_window(),
            // The transport is the manifest's, not in `granted`: claimed
            // only at launch.
            own_network: false,
            memory_by: controllers.memory,
            pids_by: controllers.pids,
            cpu_by: controllers.cpu,
        },
    )
    .report
}

/// The folders of `granted` as the confinement uses them: each through the
/// handle opened when it was checked (`/proc/self/fd/N`), never by its path
/// again, which the plugin may have swapped for a symlink since.
pub(crate) fn granted_folders(granted: &[Preopen]) -> Result<Vec<GrantedFolder>, ConfineError> {
    granted
        .iter()
        .map(|p| match &p.dir {
            Some(dir) => {
                // Moved or replaced since the grant was checked: refused
                // here with a clear word (the private root checks again
                // what it binds, against a swap after this look).
                let moved = || ConfineError::Prepare {
                    what: "a granted folder",
                    reason: format!(
                        "{} is no longer the folder that was granted (moved or replaced since the grant was checked); reload the plugin to have it checked again",
                        p.host.display()
                    ),
                };
                let identity = dir.identity().ok_or_else(moved)?;
                if dir.location().ok().as_ref() != Some(&p.host) {
                    return Err(moved());
                }
                Ok(GrantedFolder {
                    path: p.host.clone(),
                    handle: dir.reopen_path(),
                    identity,
                    mode: p.mode,
                })
            }
            None => Err(ConfineError::Prepare {
                what: "the Landlock ruleset",
                reason: format!(
                    "{} was checked but not opened (grant it with HostGrants::grant)",
                    p.host.display()
                ),
            }),
        })
        .collect()
}

/// The go-plugin port range a plugin that listens on TCP is given: a small
/// window inside go-plugin's default 10000-25000, different each launch.
pub(crate) fn port_window() -> RangeInclusive<u16> {
    const FIRST: u16 = 10_000;
    const LAST: u16 = 25_000;
    const WIDTH: u16 = 16;
    let mut seed = [0u8; 2];
    let _ = getrandom::fill(&mut seed);
    let start = FIRST + u16::from_le_bytes(seed) % (LAST - FIRST - WIDTH);
    start..=start + WIDTH - 1
}

/// The canonical form of `path`, or the path itself when it cannot be had.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
