//! The plugin process: how it is started, watched and ended.
//!
//! Invariants:
//! - The child runs in a process group of its own (so a terminal's Ctrl-C
//!   does not reach it, and `kill` reaches everything it spawned).
//! - The child gets `SIGKILL` when the host dies, however it dies: the
//!   parent-death signal is set between `fork` and `exec`. Linux sends it when
//!   the *thread* that forked exits, so every plugin is forked by one
//!   launcher thread that lives as long as the host process.
//! - One task owns the child and waits for it; its exit is published on a
//!   watch channel the moment it happens.
//! - The child inherits none of the host's environment but the variables in
//!   [`INHERITED`] (and `LC_*`): tokens, cloud credentials and the like stay
//!   with the host. It gets go-plugin's variables and a `HOME` and `TMPDIR`
//!   of its own from the launcher.
//! - The child is confined (see `confine`) before it runs a single
//!   instruction of the plugin; what is left of its control group is killed
//!   and the group removed when it ends. An exit by the OOM killer is
//!   reported as such.
//! - Before the first plugin is started, the host makes itself not dumpable
//!   ([`protect_host`]): a plugin runs as the host's user, and the kernel
//!   lets a process `ptrace`, `process_vm_writev` or open `/proc/<pid>/mem`
//!   of a dumpable process of its own user. Seccomp refuses those calls to
//!   a confined plugin, Landlock refuses `ptrace` outside its domain; this
//!   holds where neither does (a kernel without them, `confinement: off`,
//!   or anything the plugin started before its confinement was in place).

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustix::process::{Pid, Signal};

use crate::confine::{Confinement, PluginCgroup};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::{oneshot, watch};

/// How a plugin process ended, as shown to people: `exit status 3`,
/// `signal 9 (SIGKILL)`.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(9)) => "signal 9 (SIGKILL)".to_owned(),
        (None, Some(15)) => "signal 15 (SIGTERM)".to_owned(),
        (None, Some(6)) => "signal 6 (SIGABRT)".to_owned(),
        (None, Some(11)) => "signal 11 (SIGSEGV)".to_owned(),
        (None, Some(31)) => "signal 31 (SIGSYS)".to_owned(),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// Variables of the host's environment a plugin inherits (besides `LC_*`):
/// where programs and certificates are, and the locale. None is a secret.
pub(crate) const INHERITED: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A running plugin process.
pub(crate) struct PluginProcess {
    pid: Option<Pid>,
    exit: watch::Receiver<Option<String>>,
    cgroup: Option<Arc<PluginCgroup>>,
}

/// The child's output streams, handed to the handshake reader and the log
/// forwarder.
pub(crate) struct ChildOutput {
    pub(crate) stdout: ChildStdout,
    pub(crate) stderr: ChildStderr,
}

impl PluginProcess {
    /// Starts `binary` (as `arg0`: the path the manifest named, which a
    /// Python venv, say, finds itself by) with `args` in `dir`, with the
    /// [`INHERITED`] part of the host's environment plus `env`, stdin closed
    /// and stdout/stderr piped. `binary` is the canonical path: in a private
    /// root only that one is mounted.
    pub(crate) async fn spawn(
        binary: &Path,
        arg0: &Path,
        args: &[String],
        dir: &Path,
        env: &[(&str, &str)],
        confinement: Confinement,
    ) -> std::io::Result<(Self, ChildOutput)> {
        let mut command = Command::new(binary);
        let inherited = std::env::vars_os().filter(|(name, _)| {
            name.to_str()
                .is_some_and(|n| INHERITED.contains(&n) || n.starts_with("LC_"))
        });
        command
            .arg0(arg0)
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(inherited)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let cgroup = confinement.cgroup();
        set_parent_death_signal(&mut command, confinement);

        let mut child = launch(command).await?;
        let pid = child.id().and_then(|id| Pid::from_raw(id.cast_signed()));
        let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
            (Some(stdout), Some(stderr)) => (stdout, stderr),
            _ => return Err(std::io::Error::other("child output was not piped")),
        };
        let (exit_tx, exit) = watch::channel(None);
        let group = cgroup.clone();
        tokio::spawn(async move {
            let mut status = match child.wait().await {
                Ok(status) => describe(status),
                Err(e) => format!("wait failed: {e}"),
            };
            if let Some(group) = group {
                if let Some(cap) = group.out_of_memory() {
                    status.push_str(&format!(
                        ": out of memory, killed by the kernel at its cap of {cap}"
                    ));
                }
                // What it left behind goes with it.
                let _ =
                    tokio::task::spawn_blocking(move || group.remove(Duration::from_secs(2))).await;
            }
            exit_tx.send_replace(Some(status));
        });
        Ok((Self { pid, exit, cgroup }, ChildOutput { stdout, stderr }))
    }

    /// The process id, for diagnostics and tests.
    pub(crate) fn id(&self) -> Option<u32> {
        self.pid
            .map(|pid| pid.as_raw_nonzero().get().cast_unsigned())
    }

    /// A receiver that holds `Some(status)` once the process has exited.
    pub(crate) fn exit_watch(&self) -> watch::Receiver<Option<String>> {
        self.exit.clone()
    }

    /// How the process ended, if it has.
    pub(crate) fn exit_status(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Waits until the process has exited; returns how.
    pub(crate) async fn wait(&self) -> String {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(status) => status.clone().unwrap_or_default(),
            // The waiting task is gone: the runtime is shutting down.
            Err(_) => "unknown".to_owned(),
        }
    }

    /// Sends `SIGKILL` to the plugin's whole process group, and to
    /// everything in its control group (which a child leaving the process
    /// group does not escape).
    pub(crate) fn kill(&self) {
        if let Some(pid) = self.pid {
            // ESRCH (already gone) is the expected outcome after an exit.
            let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        }
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill_all();
        }
    }
}

impl Drop for PluginProcess {
    /// A process is never left behind, whatever path drops it.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Asks the kernel to `SIGKILL` the child when the host goes away (and
/// closes the race where the host died before the request took effect),
/// then applies its `confinement`.
#[allow(unsafe_code)]
fn set_parent_death_signal(command: &mut Command, mut confinement: Confinement) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before `exec`; it only
    // makes system calls (prctl, getppid through rustix; the rest through
    // `Confinement::restrict`, prepared before the fork), which neither
    // allocate nor take locks, so it is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                return Err(std::io::Error::other("the host exited during spawn"));
            }
            confinement.restrict()
        });
    }
}

/// Makes the host process not dumpable (`PR_SET_DUMPABLE` 0), once, before
/// its first plugin is forked: no process of the same user but root (with
/// `CAP_SYS_PTRACE`) may then `ptrace` it, read or write its memory
/// (`process_vm_*`, `/proc/<pid>/mem`) or take its files (`pidfd_getfd`),
/// and it dumps no core. The forked child inherits the flag until `exec`,
/// which resets it for the plugin's own program.
pub(crate) fn protect_host() {
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!("the host could not make itself not dumpable: {e}");
    }
}

/// A spawn request for the launcher thread.
struct LaunchRequest {
    command: Command,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<std::io::Result<Child>>,
}

/// Forks `command` on the launcher thread (see the module docs), registering
/// the child with the caller's tokio runtime.
async fn launch(command: Command) -> std::io::Result<Child> {
    static LAUNCHER: OnceLock<Option<mpsc::Sender<LaunchRequest>>> = OnceLock::new();
    let launcher = LAUNCHER.get_or_init(|| {
        protect_host();
        let (tx, rx) = mpsc::channel::<LaunchRequest>();
        std::thread::Builder::new()
            .name("plugin-launcher".into())
            .spawn(move || {
                for mut request in rx {
                    let _runtime = request.runtime.enter();
                    let _ = request.reply.send(request.command.spawn());
                }
            })
            .ok()
            .map(|_| tx)
    });
    let Some(launcher) = launcher else {
        return Err(std::io::Error::other(
            "the plugin launcher thread failed to start",
        ));
    };
    let (reply, answer) = oneshot::channel();
    launcher
        .send(LaunchRequest {
            command,
            runtime: tokio::runtime::Handle::current(),
            reply,
        })
        .map_err(|_| std::io::Error::other("the plugin launcher thread is gone"))?;
    answer
        .await
        .map_err(|_| std::io::Error::other("the plugin launcher thread dropped the request"))?
}
