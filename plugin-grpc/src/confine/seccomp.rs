//! The seccomp filter: which sockets a plugin process may open.
//!
//! Landlock governs TCP by port; nothing in it covers UDP, raw or packet
//! sockets, netlink, or `io_uring` (whose socket operations skip this
//! filter). The filter, compiled in the host and loaded in the child
//! before `exec`, answers `EACCES` to:
//! - `socket` in any family but unix, IPv4 and IPv6;
//! - raw and packet sockets in IPv4 and IPv6 (root could open them);
//! - for a plugin granted no network: every IPv4 and IPv6 socket that is not
//!   TCP, and, on a kernel whose Landlock has no TCP rules, TCP as well;
//! - `io_uring_setup`, always.
//!
//! Everything else is allowed: the filter is a deny list for these calls,
//! not a system-call allow list.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// What the filter lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sockets {
    /// Unix sockets and TCP (whose ports Landlock governs).
    UnixAndTcp,
    /// Unix sockets only.
    Unix,
    /// Unix sockets, and IPv4/IPv6 TCP and UDP.
    Network,
}

/// The seccomp architecture of this build, if the filter supports it.
pub(super) fn arch() -> Option<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).ok()
}

/// Compiles the filter for `sockets`.
pub(super) fn filter(
    sockets: Sockets,
    arch: TargetArch,
) -> Result<BpfProgram, seccompiler::BackendError> {
    let domain = |op, value| SeccompCondition::new(0, SeccompCmpArgLen::Dword, op, value);
    let kind = |value| {
        SeccompCondition::new(
            1,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK),
            value,
        )
    };
    let unix = libc::AF_UNIX as u64;
    let inet = [libc::AF_INET as u64, libc::AF_INET6 as u64];
    let mut deny = vec![
        // Families other than unix (1), IPv4 (2) and IPv6 (10).
        SeccompRule::new(vec![domain(SeccompCmpOp::Lt, unix)?])?,
        SeccompRule::new(vec![
            domain(SeccompCmpOp::Gt, inet[0])?,
            domain(SeccompCmpOp::Lt, inet[1])?,
        ])?,
        SeccompRule::new(vec![domain(SeccompCmpOp::Gt, inet[1])?])?,
    ];
    let denied_kinds: &[i32] = match sockets {
        Sockets::Network => &[libc::SOCK_RAW, SOCK_PACKET],
        Sockets::UnixAndTcp => &[
            libc::SOCK_DGRAM,
            libc::SOCK_RAW,
            libc::SOCK_RDM,
            libc::SOCK_SEQPACKET,
            libc::SOCK_DCCP,
            SOCK_PACKET,
        ],
        Sockets::Unix => &[],
    };
    for family in inet {
        if sockets == Sockets::Unix {
            deny.push(SeccompRule::new(vec![domain(SeccompCmpOp::Eq, family)?])?);
        }
        for k in denied_kinds {
            deny.push(SeccompRule::new(vec![
                domain(SeccompCmpOp::Eq, family)?,
                kind(*k as u64)?,
            ])?);
        }
    }
    let rules = BTreeMap::from([
        (libc::SYS_socket, deny),
        // No rule: every call matches.
        (libc::SYS_io_uring_setup, Vec::new()),
    ]);
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )?
    .try_into()
}

/// The bits of `socket`'s type argument that name the type (the rest are
/// `SOCK_NONBLOCK` and `SOCK_CLOEXEC`).
const SOCK_TYPE_MASK: u64 = 0xf;

/// The obsolete packet socket type (`libc` marks it deprecated; it still
/// opens a packet socket, so it is refused).
const SOCK_PACKET: i32 = 10;

/// Whether the kernel has seccomp filters.
#[allow(unsafe_code)]
pub(super) fn kernel_has_seccomp() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointer and changes nothing; it fails
    // with EINVAL on a kernel without seccomp.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP) >= 0 }
}

/// Loads `program` into the calling thread (in the child, before `exec`):
/// system calls only.
pub(super) fn apply(program: &BpfProgram) -> std::io::Result<()> {
    seccompiler::apply_filter(program).map_err(|_| std::io::Error::from(rustix::io::Errno::PERM))
}
