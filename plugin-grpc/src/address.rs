//! The address a plugin announces in its handshake, checked before the host
//! connects to it: the host's connection carries `Init` and the plugin's
//! configuration, so it must reach that plugin and nothing else.
//!
//! - unix: a socket directly in the plugin's own session folder (the
//!   folder's path is the socket's parent, compared component by
//!   component), opened without following a symbolic link (`O_PATH |
//!   O_NOFOLLOW`, then `fstat` says socket); the host connects through that
//!   very descriptor (`/proc/self/fd/N`), so the plugin cannot swap the
//!   socket for a link between the check and the connection;
//! - tcp: `127.0.0.1` or `::1`, on a port of the plugin's own go-plugin
//!   window (`PLUGIN_MIN_PORT`..`PLUGIN_MAX_PORT`).
//!
//! Anything else fails the load with `LaunchError::BadHandshake`, naming
//! the address announced and what was expected.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::path::Path;

use proto::handshake::Network;
use rustix::fs::{FileType, Mode, OFlags};

/// An announced address that passed the check.
pub(crate) enum Checked {
    /// A socket in the session folder, held open so the host connects to
    /// the inode it checked.
    Unix {
        /// The `O_PATH` descriptor of the socket (kept open until the
        /// connection is made).
        _fd: OwnedFd,
        /// What to connect to: `/proc/self/fd/N`, or the path itself on a
        /// host without `/proc`.
        connect_to: String,
    },
    /// A loopback address within the port window.
    Tcp(String),
}

impl Checked {
    /// The address to hand to the connector.
    pub(crate) fn connect_to(&self) -> &str {
        match self {
            Self::Unix { connect_to, .. } => connect_to,
            Self::Tcp(address) => address,
        }
    }
}

/// Checks `address`, announced over `network`, against the plugin's
/// `session` folder and its TCP `ports`; the error is the reason, for
/// `LaunchError::BadHandshake`.
pub(crate) fn check(
    network: Network,
    address: &str,
    session: &Path,
    ports: &RangeInclusive<u16>,
) -> Result<Checked, String> {
    match network {
        Network::Unix => unix(address, session),
        Network::Tcp => tcp(address, ports),
    }
}

fn unix(address: &str, session: &Path) -> Result<Checked, String> {
    let path = Path::new(address);
    let expected = || {
        format!(
            "the plugin announced {address}, but it may listen only directly in its session folder {} (PLUGIN_UNIX_SOCKET_DIR)",
            session.display()
        )
    };
    let in_session = path.is_absolute()
        && path.parent() == Some(session)
        && path.file_name().is_some_and(|n| n != "." && n != "..");
    if !in_session {
        return Err(expected());
    }
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        format!(
            "the plugin announced {address}, which cannot be opened: {}",
            std::io::Error::from(e)
        )
    })?;
    let kind = rustix::fs::fstat(&fd)
        .map(|stat| FileType::from_raw_mode(stat.st_mode))
        .map_err(|e| format!("{address}: {}", std::io::Error::from(e)))?;
    if kind != FileType::Socket {
        let what = match kind {
            FileType::Symlink => "a symbolic link",
            FileType::Directory => "a folder",
            FileType::RegularFile => "a regular file",
            _ => "not a socket",
        };
        return Err(format!(
            "the plugin announced {address}, which is {what}: a plugin's address is a unix socket of its own in its session folder {}",
            session.display()
        ));
    }
    let connect_to = if Path::new("/proc/self/fd").is_dir() {
        format!("/proc/self/fd/{}", fd.as_raw_fd())
    } else {
        address.to_owned()
    };
    Ok(Checked::Unix {
        _fd: fd,
        connect_to,
    })
}

fn tcp(address: &str, ports: &RangeInclusive<u16>) -> Result<Checked, String> {
    let within = address.parse::<SocketAddr>().ok().filter(|a| {
        matches!(
            a.ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST) | IpAddr::V6(Ipv6Addr::LOCALHOST)
        ) && ports.contains(&a.port())
    });
    match within {
        Some(_) => Ok(Checked::Tcp(address.to_owned())),
        None => Err(format!(
            "the plugin announced {address}, but it may listen only on 127.0.0.1 or [::1] with a port in its window {}-{} (PLUGIN_MIN_PORT, PLUGIN_MAX_PORT)",
            ports.start(),
            ports.end()
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tcp_is_loopback_within_the_window() {
        let ports = 20_000..=20_015;
        for ok in ["127.0.0.1:20000", "[::1]:20015"] {
            assert!(tcp(ok, &ports).is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1:19999",
            "127.0.0.2:20000",
            "10.0.0.1:20000",
            "localhost:20000",
            "[::ffff:127.0.0.1]:20000",
            "0.0.0.0:20000",
        ] {
            let err = tcp(bad, &ports).err().unwrap();
            assert!(
                err.contains(bad) && err.contains("20000-20015"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn unix_is_a_socket_directly_in_the_session_folder() {
        let session = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let own = session.path().join("p.sock");
        let _own = std::os::unix::net::UnixListener::bind(&own).unwrap();
        let foreign = other.path().join("f.sock");
        let _foreign = std::os::unix::net::UnixListener::bind(&foreign).unwrap();
        let link = session.path().join("link.sock");
        std::os::unix::fs::symlink(&foreign, &link).unwrap();
        std::fs::create_dir(session.path().join("tmp")).unwrap();
        let deeper = session.path().join("tmp/d.sock");
        let _deeper = std::os::unix::net::UnixListener::bind(&deeper).unwrap();

        let checked = unix(own.to_str().unwrap(), session.path()).unwrap();
        assert!(checked.connect_to().starts_with("/proc/self/fd/"));
        std::os::unix::net::UnixStream::connect(checked.connect_to()).unwrap();
        for (bad, why) in [
            (foreign.clone(), "session folder"),
            (link, "symbolic link"),
            (deeper, "session folder"),
            (session.path().join("../f.sock"), "session folder"),
            (PathBuf::from("p.sock"), "session folder"),
        ] {
            let err = unix(bad.to_str().unwrap(), session.path()).err().unwrap();
            assert!(
                err.contains(bad.to_str().unwrap()) && err.contains(why),
                "{bad:?}: {err}"
            );
        }
    }

    use std::path::PathBuf;
}
