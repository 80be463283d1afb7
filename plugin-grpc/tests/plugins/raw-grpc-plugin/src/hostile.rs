//! System calls a hostile plugin makes by hand, to get around the rules the
//! kernel holds it to: each returns what it reached, or the OS's error.

#![allow(unsafe_code)]

use std::io::{Error, Result};
use std::net::SocketAddrV4;

/// `IPPROTO_MPTCP`: a stream socket that is not TCP to Landlock.
const IPPROTO_MPTCP: libc::c_int = 262;
/// x86-64's x32 ABI: the same calls, numbered with bit 30 set.
const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;

fn sockaddr(address: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: address.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*address.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

const SOCKADDR_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// A result from a call's return value (-1: errno).
fn check(ret: libc::c_long) -> Result<libc::c_long> {
    if ret < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An open socket, closed on drop.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.0) };
    }
}

fn socket(protocol: libc::c_int) -> Result<Fd> {
    // SAFETY: no pointers.
    let fd = check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, protocol) }.into())?;
    Ok(Fd(fd as libc::c_int))
}

/// `socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)` and `connect`.
pub(crate) fn mptcp_connect(address: SocketAddrV4) -> Result<String> {
    let fd = socket(IPPROTO_MPTCP)?;
    let addr = sockaddr(address);
    // SAFETY: `addr` is a valid sockaddr_in of the length given.
    check(unsafe { libc::connect(fd.0, (&raw const addr).cast(), SOCKADDR_LEN) }.into())?;
    Ok("connected".to_owned())
}

/// TCP Fast Open: a TCP socket that connects by `sendto(MSG_FASTOPEN)`,
/// never calling `connect`.
pub(crate) fn fast_open(address: SocketAddrV4) -> Result<String> {
    let fd = socket(0)?;
    let addr = sockaddr(address);
    let data = b"hello";
    // SAFETY: `data` and `addr` are valid for the lengths given.
    let sent = check(unsafe {
        libc::sendto(
            fd.0,
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_FASTOPEN,
            (&raw const addr).cast(),
            SOCKADDR_LEN,
        )
    } as libc::c_long)?;
    Ok(format!("sent {sent}"))
}

/// `socket` (an MPTCP one) and `connect` through the x32 ABI.
pub(crate) fn x32_connect(address: SocketAddrV4) -> Result<String> {
    // SAFETY: no pointers.
    let fd = check(unsafe {
        libc::syscall(
            X32_SYSCALL_BIT | libc::SYS_socket,
            libc::AF_INET,
            libc::SOCK_STREAM,
            IPPROTO_MPTCP,
        )
    })?;
    let fd = Fd(fd as libc::c_int);
    let addr = sockaddr(address);
    // SAFETY: `addr` is a valid sockaddr_in of the length given.
    check(unsafe {
        libc::syscall(
            X32_SYSCALL_BIT | libc::SYS_connect,
            fd.0,
            &raw const addr,
            SOCKADDR_LEN,
        )
    })?;
    Ok("connected".to_owned())
}

/// `ptrace(PTRACE_SEIZE, pid)` (detaching again if it worked).
pub(crate) fn ptrace(pid: libc::pid_t) -> Result<String> {
    // SAFETY: PTRACE_SEIZE takes no pointer.
    check(unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize) })?;
    // SAFETY: as above.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize) };
    Ok("attached".to_owned())
}

/// Writes `value` at `address` in process `pid` (`process_vm_writev`).
pub(crate) fn poke(pid: libc::pid_t, address: usize, value: u64) -> Result<String> {
    let local = libc::iovec {
        iov_base: (&raw const value).cast_mut().cast(),
        iov_len: 8,
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: 8,
    };
    // SAFETY: `local` points at 8 readable bytes; the remote side is the
    // kernel's to check.
    let written =
        check(unsafe { libc::process_vm_writev(pid, &local, 1, &remote, 1, 0) } as libc::c_long)?;
    Ok(format!("wrote {written}"))
}

/// The CPU time the process has used, in milliseconds (all its threads).
pub(crate) fn cpu_time_ms() -> u64 {
    // SAFETY: `usage` is written by the kernel.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Opens the root folder of the filesystem holding `dir` by its handle
/// (ext4 and most: inode 2, generation 0), as the "shocker" attack does,
/// and counts what it lists.
pub(crate) fn by_handle(dir: &str) -> Result<String> {
    #[repr(C)]
    struct Handle {
        bytes: libc::c_uint,
        kind: libc::c_int,
        inode: u32,
        generation: u32,
    }
    let path = std::ffi::CString::new(dir).map_err(Error::other)?;
    // SAFETY: a NUL-terminated path.
    let mount = Fd(check(
        unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        }
        .into(),
    )? as libc::c_int);
    let mut handle = Handle {
        bytes: 8,
        kind: 1, // FILEID_INO32_GEN
        inode: 2,
        generation: 0,
    };
    // SAFETY: `handle` is a `struct file_handle` with 8 bytes of handle.
    let root = Fd(check(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount.0,
            (&raw mut handle).cast::<libc::c_void>(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })? as libc::c_int);
    let listed = std::fs::read_dir(format!("/proc/self/fd/{}", root.0))
        .map(|entries| entries.count())
        .unwrap_or(0);
    Ok(format!("opened the filesystem's root ({listed} entries)"))
}

/// The capabilities the process holds: effective and bounding, as bits.
pub(crate) fn capabilities() -> Result<String> {
    let held = rustix::thread::capabilities(None).map_err(Error::from)?;
    let bounding = (0..64)
        .filter(|cap| {
            // SAFETY: PR_CAPBSET_READ takes a capability number.
            unsafe { libc::prctl(libc::PR_CAPBSET_READ, *cap as libc::c_ulong, 0, 0, 0) == 1 }
        })
        .count();
    Ok(format!(
        "effective {:#x} permitted {:#x} bounding {bounding}",
        held.effective.bits(),
        held.permitted.bits()
    ))
}
