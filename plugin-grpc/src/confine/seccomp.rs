//! The seccomp filter: which sockets a plugin process may open, and which
//! calls that reach into other processes it may not make.
//!
//! Landlock governs TCP by port and nothing else: not UDP, not raw or
//! packet sockets, not netlink, not MPTCP (an `IPPROTO_MPTCP` stream socket
//! is not TCP to Landlock, so its `connect` goes anywhere), not `io_uring`
//! (whose socket operations skip this filter). The filter, compiled in the
//! host and loaded in the child before `exec`, answers `EACCES` to:
//! - `socket` in any family but unix, IPv4 and IPv6;
//! - IPv4 and IPv6 sockets of any type but stream (TCP, and only while
//!   Landlock holds it to its ports: see [`Sockets`]) and datagram (UDP,
//!   only when granted), and of any protocol but TCP (`0`, `IPPROTO_TCP`)
//!   and UDP (`0`, `IPPROTO_UDP`): no MPTCP, SCTP, UDP-Lite, ICMP, raw;
//! - TCP Fast Open from the client side: `sendto`, `sendmsg` and `sendmmsg`
//!   with `MSG_FASTOPEN`, and `setsockopt(TCP_FASTOPEN_CONNECT)`: a connect
//!   made by sending. Landlock (ABI 7, Linux 6.18) refuses that connect to
//!   a port not granted as well (tested); the filter refuses it on every
//!   kernel, whatever its Landlock makes of it;
//! - `ptrace`, `process_vm_readv`, `process_vm_writev`, `process_madvise`,
//!   `kcmp`, `pidfd_getfd` and `perf_event_open`: a plugin runs as the
//!   host's user (root, even), and these would read or write another
//!   process's memory, take its files, or watch it;
//! - `io_uring_setup`, always;
//! - on x86-64, every call of the x32 ABI (numbers with bit 30 set): the
//!   rules above are keyed by number, so an x32 `socket` would pass them
//!   on a kernel built with x32 (`CONFIG_X86_X32_ABI`; most distributions'
//!   are not, and answer `ENOSYS`). The i386 ABI has another architecture
//!   number, which the filter answers by killing the process.
//!
//! Everything else is allowed: the filter is a deny list for these calls,
//! not a system-call allow list.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

/// Which IPv4 and IPv6 sockets the filter lets through (unix sockets it
/// always does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sockets {
    /// TCP stream sockets: granted ports to connect to, or Landlock holding
    /// TCP to none (and to binding the go-plugin port window).
    pub(super) tcp: bool,
    /// UDP datagram sockets (granted on their own).
    pub(super) udp: bool,
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
    let arg = |index, op, value| SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value);
    let domain = |op, value| arg(0, op, value);
    let kind = |value: i32| arg(1, SeccompCmpOp::MaskedEq(SOCK_TYPE_MASK), value as u64);
    let protocol_not = |value: i32| arg(2, SeccompCmpOp::Ne, value as u64);
    let unix = libc::AF_UNIX as u64;
    let inet = [libc::AF_INET as u64, libc::AF_INET6 as u64];
    let mut socket = vec![
        // Families other than unix (1), IPv4 (2) and IPv6 (10).
        SeccompRule::new(vec![domain(SeccompCmpOp::Lt, unix)?])?,
        SeccompRule::new(vec![
            domain(SeccompCmpOp::Gt, inet[0])?,
            domain(SeccompCmpOp::Lt, inet[1])?,
        ])?,
        SeccompRule::new(vec![domain(SeccompCmpOp::Gt, inet[1])?])?,
    ];
    // The type and protocol each kind of socket admits.
    let mut admitted = Vec::new();
    if sockets.tcp {
        admitted.push((libc::SOCK_STREAM, libc::IPPROTO_TCP));
    }
    if sockets.udp {
        admitted.push((libc::SOCK_DGRAM, libc::IPPROTO_UDP));
    }
    for family in inet {
        let family = || domain(SeccompCmpOp::Eq, family);
        if admitted.is_empty() {
            socket.push(SeccompRule::new(vec![family()?])?);
            continue;
        }
        // Every type but those admitted (the type is the low four bits;
        // the rest are SOCK_NONBLOCK and SOCK_CLOEXEC).
        for other in 0..=SOCK_TYPE_MASK as i32 {
            if !admitted.iter().any(|(t, _)| *t == other) {
                socket.push(SeccompRule::new(vec![family()?, kind(other)?])?);
            }
        }
        // An admitted type with any protocol but its own (or 0, its default).
        for (t, protocol) in &admitted {
            socket.push(SeccompRule::new(vec![
                family()?,
                kind(*t)?,
                protocol_not(0)?,
                protocol_not(*protocol)?,
            ])?);
        }
    }
    let fast_open = |flags_at| -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
        let flag = libc::MSG_FASTOPEN as u64;
        Ok(vec![SeccompRule::new(vec![arg(
            flags_at,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?])?])
    };
    let fast_open_connect = vec![SeccompRule::new(vec![
        arg(1, SeccompCmpOp::Eq, libc::IPPROTO_TCP as u64)?,
        arg(2, SeccompCmpOp::Eq, TCP_FASTOPEN_CONNECT)?,
    ])?];
    let mut rules = BTreeMap::from([
        (libc::SYS_socket, socket),
        (libc::SYS_sendto, fast_open(3)?),
        (libc::SYS_sendmsg, fast_open(2)?),
        (libc::SYS_sendmmsg, fast_open(3)?),
        (libc::SYS_setsockopt, fast_open_connect),
    ]);
    // No rule: every call matches.
    for call in ALWAYS_DENIED {
        rules.insert(*call, Vec::new());
    }
    let compiled: BpfProgram = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )?
    .try_into()?;
    Ok(match arch {
        TargetArch::x86_64 => {
            let mut program = no_x32();
            program.extend(compiled);
            program
        }
        _ => compiled,
    })
}

/// Calls refused whatever their arguments.
const ALWAYS_DENIED: &[libc::c_long] = &[
    libc::SYS_io_uring_setup,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    libc::SYS_perf_event_open,
    // Files by handle, around the private root and Landlock's paths (the
    // capabilities they need are dropped too).
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    // The kernel itself, the keyrings the host's user shares, and page
    // faults handled in user space (a classic race widener).
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_userfaultfd,
];

/// The bit x86-64's x32 ABI sets in its system-call numbers.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `AUDIT_ARCH_X86_64`, the architecture x32 calls also carry.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

/// Instructions put before the compiled filter on x86-64: an x32 call is
/// answered `EACCES`; anything else goes on to the filter (whose first
/// instruction is its own architecture check).
fn no_x32() -> Vec<sock_filter> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    // struct seccomp_data: nr at 0, arch at 4.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        op(LD_W_ABS, 0, 0, ARCH),
        // Not x86-64: skip to the filter (three on).
        op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        op(LD_W_ABS, 0, 0, NR),
        // Not x32: skip to the filter (one on).
        op(JGE_K, 0, 1, X32_SYSCALL_BIT),
        op(RET_K, 0, 0, SECCOMP_RET_ERRNO | libc::EACCES as u32),
    ]
}

/// `SECCOMP_RET_ERRNO`: fail the call with the errno in the low 16 bits.
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;

/// `TCP_FASTOPEN_CONNECT` (`linux/tcp.h`): `connect` defers the handshake
/// to the first write, which then carries data.
const TCP_FASTOPEN_CONNECT: u64 = 30;

/// The bits of `socket`'s type argument that name the type (the rest are
/// `SOCK_NONBLOCK` and `SOCK_CLOEXEC`).
const SOCK_TYPE_MASK: u64 = 0xf;

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
