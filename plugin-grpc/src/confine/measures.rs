//! What the running kernel enforces, measure by measure: pure functions of
//! what it offers (the Landlock ABI, seccomp, a cgroup controller) and of
//! what was granted, so [`plan`](super::plan) can say exactly what holds,
//! and tests can check the whole table for every ABI.
//!
//! The Landlock ABIs that matter here:
//! - 1 (Linux 5.13): reading, writing, executing, making and removing files;
//! - 2 (5.19): renaming and linking across folders (refused before: stricter);
//! - 3 (6.2): truncation. Before it, a file the plugin may only read can be
//!   emptied with `truncate`, so the filesystem is not reported enforced
//!   below ABI 3;
//! - 4 (6.7): TCP bind and connect by port;
//! - 5 (6.10): `ioctl` on devices. Below it, a device the plugin may open
//!   takes any ioctl; the only devices it may open are `/dev/null` and
//!   `/dev/urandom` (and what a granted folder holds), so ABI 3 is enough
//!   to report the filesystem enforced, with that said;
//! - 6 (6.12): scopes (signals, abstract unix sockets);
//! - 7 (6.15): audit logging only.

use std::ops::RangeInclusive;

use plugin_types::Cores;

use super::landlock::{NET_ABI, SCOPE_ABI};
use super::seccomp::Sockets;

/// The first ABI that governs truncation.
pub(super) const TRUNCATE_ABI: i32 = 3;
/// The first ABI that governs `ioctl` on devices.
pub(super) const IOCTL_DEV_ABI: i32 = 5;

/// The filesystem measure under Landlock `abi`, with `folders` granted
/// beyond the plugin's own: how, and whether it is enforced (ABI 3+).
pub(super) fn filesystem(abi: i32, folders: usize) -> (String, bool) {
    if abi < 1 {
        return ("none: the kernel has no Landlock".to_owned(), false);
    }
    let more = match folders {
        0 => String::new(),
        n => format!(", and {n} granted folder(s)"),
    };
    let rules = format!(
        "Landlock ABI {abi}: reads its folder and the system's, writes its data, temp and socket folders{more}"
    );
    if abi < TRUNCATE_ABI {
        let how = format!(
            "{rules}; but not truncation (ABI {TRUNCATE_ABI}, Linux 6.2): a file it may only read can be emptied"
        );
        return (how, false);
    }
    if abi < IOCTL_DEV_ABI {
        let how = format!(
            "{rules}; device ioctls are not governed (ABI {IOCTL_DEV_ABI}): the only devices it may open are /dev/null, /dev/urandom and any in granted folders"
        );
        return (how, true);
    }
    (format!("{rules}; device ioctls too"), true)
}

/// What was granted that the network measure depends on.
pub(super) struct NetworkAsk<'a> {
    /// TCP ports it may connect to.
    pub(super) connect: &'a [u16],
    /// Its go-plugin port range (TCP bind).
    pub(super) bind: &'a RangeInclusive<u16>,
    /// Whether UDP is granted.
    pub(super) udp: bool,
}

/// The sockets the seccomp filter admits, and the network measure, under
/// Landlock `abi` with seccomp filters available or not (`filters`).
pub(super) fn network(abi: i32, filters: bool, ask: &NetworkAsk<'_>) -> (Sockets, String, bool) {
    let tcp_rules = abi >= NET_ABI;
    let sockets = Sockets {
        tcp: !ask.connect.is_empty() || tcp_rules,
        udp: ask.udp,
    };
    if !filters {
        return (
            sockets,
            "none: the kernel has no seccomp filters".to_owned(),
            false,
        );
    }
    let ports = {
        let list: Vec<String> = ask.connect.iter().map(u16::to_string).collect();
        list.join(", ")
    };
    let udp = if ask.udp {
        "UDP to any address and port (granted; the kernel has no UDP rules)"
    } else {
        "no UDP"
    };
    let rest = "no raw sockets, other protocols (MPTCP, SCTP...) or TCP Fast Open (seccomp)";
    if !ask.connect.is_empty() && !tcp_rules {
        let how = format!(
            "TCP to any port: the kernel's Landlock (ABI {abi}) has no TCP rules to hold it to {ports}"
        );
        return (sockets, how, false);
    }
    let how = if !tcp_rules {
        let and_udp = if ask.udp { " and UDP (granted)" } else { "" };
        format!("none: unix sockets{and_udp} only (seccomp); the tcp transport is unavailable")
    } else {
        let tcp = if ask.connect.is_empty() {
            "no TCP connect".to_owned()
        } else {
            format!("TCP connect to ports {ports}")
        };
        let none = if ask.connect.is_empty() && !ask.udp {
            "none: "
        } else {
            ""
        };
        format!(
            "{none}{tcp}, bind only on ports {}-{} (Landlock); {udp}; {rest}",
            ask.bind.start(),
            ask.bind.end()
        )
    };
    (sockets, how, true)
}

/// The CPU measure: the cap, if any, and how it is applied (`by`: the
/// cgroup file, when a cpu controller could be used). Without a cap there
/// is nothing to enforce; a cap without a controller is not enforced.
pub(super) fn cpu(cap: Option<Cores>, by: Option<&str>) -> (String, bool) {
    match (cap, by) {
        (None, _) => (
            "not capped: no grpc.permissions.cpu asked, no process_cpu granted".to_owned(),
            true,
        ),
        (Some(cap), Some(by)) => (format!("{by} {cap}"), true),
        (Some(cap), None) => (
            format!(
                "{cap} asked, but no cpu controller is available (cgroup v2 with cpu delegated, or a writable v1 cpu hierarchy)"
            ),
            false,
        ),
    }
}

/// The isolation measure under Landlock `abi`.
pub(super) fn isolation(abi: i32) -> (String, bool) {
    if abi >= SCOPE_ABI {
        (
            "no signals to, nor abstract unix sockets of, processes outside it (Landlock)"
                .to_owned(),
            true,
        )
    } else {
        (
            format!("none: the kernel's Landlock (ABI {abi}) has no scopes"),
            false,
        )
    }
}

/// The privileges measure: what holds always, and the seccomp part.
pub(super) fn privileges(filters: bool) -> (String, bool) {
    if filters {
        (
            "no_new_privs; no capabilities (bounding set empty, root gets none at exec); core dumps off; no ptrace, process_vm_readv/writev, process_madvise, kcmp, pidfd_getfd, perf_event_open, open_by_handle_at, bpf, keyctl, module or kexec calls (seccomp)"
                .to_owned(),
            true,
        )
    } else {
        (
            "no_new_privs; core dumps off; no seccomp filters to refuse ptrace and process_vm_* (Landlock, where present, refuses them against processes outside the plugin)"
                .to_owned(),
            false,
        )
    }
}
