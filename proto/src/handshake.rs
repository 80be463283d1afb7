//! go-plugin's process handshake, as flowbot configures it.
//!
//! The host starts the plugin with the magic cookie and the protocol versions
//! it speaks in the environment; the plugin answers with one line on stdout:
//!
//! ```text
//! CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK|ADDRESS|PROTOCOL[|SERVER-CERT[|MULTIPLEX]]
//! 1|1|unix|/tmp/plugin123/plugin.sock|grpc
//! ```
//!
//! Both halves live here so the host (`plugin-grpc`) and the SDK
//! (`plugin-sdk`) agree by construction.

use std::fmt;
use std::str::FromStr;

/// The environment variable a plugin must find set to [`MAGIC_COOKIE_VALUE`].
pub const MAGIC_COOKIE_KEY: &str = "FLOWBOT_PLUGIN";
/// The value of [`MAGIC_COOKIE_KEY`]: shows the binary was started by a host.
pub const MAGIC_COOKIE_VALUE: &str = "flowbot-plugin-v1";
/// go-plugin's own protocol version (the first field of the line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// flowbot's plugin protocol version (the second field of the line).
pub const APP_PROTOCOL_VERSION: u32 = 1;
/// The comma-separated app protocol versions the host accepts.
pub const ENV_PROTOCOL_VERSIONS: &str = "PLUGIN_PROTOCOL_VERSIONS";
/// The folder in which a plugin should create its unix sockets.
pub const ENV_UNIX_SOCKET_DIR: &str = "PLUGIN_UNIX_SOCKET_DIR";
/// The lowest TCP port a plugin may listen on (for plugins that use TCP).
pub const ENV_MIN_PORT: &str = "PLUGIN_MIN_PORT";
/// The highest TCP port a plugin may listen on.
pub const ENV_MAX_PORT: &str = "PLUGIN_MAX_PORT";
/// Which transport the host asks the plugin to listen on (`unix` or
/// `tcp`): an extension of this workspace; go-plugin's own plugins choose
/// for themselves (unix, on Linux).
pub const ENV_TRANSPORT: &str = "PLUGIN_TRANSPORT";
/// The `grpc.health.v1` service name a go-plugin server reports as serving.
pub const HEALTH_SERVICE: &str = "plugin";

/// The plugin's address network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A unix domain socket; the address is its path.
    Unix,
    /// TCP; the address is `host:port`.
    Tcp,
}

impl Network {
    /// The name written in the handshake line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unix => "unix",
            Self::Tcp => "tcp",
        }
    }
}

/// The line a plugin prints once it is listening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeLine {
    /// go-plugin's protocol version; must be [`CORE_PROTOCOL_VERSION`].
    pub core_version: u32,
    /// The app protocol version the plugin chose.
    pub app_version: u32,
    /// Where the plugin listens.
    pub network: Network,
    /// The socket path or `host:port`.
    pub address: String,
    /// The RPC protocol; a host of this crate only accepts `grpc`.
    pub protocol: String,
    /// The sixth field: the plugin's AutoMTLS certificate (DER, base64
    /// without padding), when the host asked for mutual TLS.
    pub cert: Option<String>,
}

impl HandshakeLine {
    /// The line a gRPC plugin of this protocol prints for `address`.
    pub fn grpc(network: Network, address: impl Into<String>) -> Self {
        Self {
            core_version: CORE_PROTOCOL_VERSION,
            app_version: APP_PROTOCOL_VERSION,
            network,
            address: address.into(),
            protocol: "grpc".to_owned(),
            cert: None,
        }
    }

    /// The same line, announcing the AutoMTLS certificate `field`.
    pub fn with_cert(mut self, field: String) -> Self {
        self.cert = Some(field);
        self
    }
}

impl fmt::Display for HandshakeLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|{}",
            self.core_version,
            self.app_version,
            self.network.as_str(),
            self.address,
            self.protocol
        )?;
        if let Some(cert) = &self.cert {
            write!(f, "|{cert}")?;
        }
        Ok(())
    }
}

/// Why a line is not a handshake line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Fewer than five `|`-separated fields, or a version that is not a number.
    #[error("not a go-plugin handshake line (want CORE|APP|NETWORK|ADDR|PROTOCOL)")]
    Malformed,
    /// The network is neither `unix` nor `tcp`.
    #[error("unsupported network {0:?} (want unix or tcp)")]
    Network(String),
}

impl FromStr for HandshakeLine {
    type Err = HandshakeError;

    /// Parses the first five fields and the certificate in the sixth, if
    /// any; a multiplexing flag after them is ignored (this host does not
    /// multiplex). As go-plugin does, a sixth field of 50 characters or
    /// fewer is not taken for a certificate (older plugins put other data
    /// there).
    ///
    /// Whitespace around the line is ignored (go-plugin's host trims it
    /// too); a control character inside it is refused as malformed, so
    /// that a line parsed and printed again reads the same.
    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let line = line.trim();
        if line.contains(char::is_control) {
            return Err(HandshakeError::Malformed);
        }
        let mut fields = line.split('|');
        let mut next = || fields.next().ok_or(HandshakeError::Malformed);
        let core_version = next()?.parse().map_err(|_| HandshakeError::Malformed)?;
        let app_version = next()?.parse().map_err(|_| HandshakeError::Malformed)?;
        let network = match next()? {
            "unix" => Network::Unix,
            "tcp" => Network::Tcp,
            other => return Err(HandshakeError::Network(other.to_owned())),
        };
        let address = next()?.to_owned();
        let protocol = next()?.to_owned();
        if address.is_empty() {
            return Err(HandshakeError::Malformed);
        }
        let cert = fields
            .next()
            .filter(|cert| cert.len() > 50)
            .map(str::to_owned);
        Ok(Self {
            core_version,
            app_version,
            network,
            address,
            protocol,
            cert,
        })
    }
}

/// Whether the host's `PLUGIN_PROTOCOL_VERSIONS` value offers
/// [`APP_PROTOCOL_VERSION`]. An absent or empty list means the host predates
/// version negotiation and speaks the plugin's version.
pub fn host_offers_our_version(versions: Option<&str>) -> bool {
    match versions.map(str::trim) {
        None | Some("") => true,
        Some(list) => list
            .split(',')
            .any(|v| v.trim().parse() == Ok(APP_PROTOCOL_VERSION)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_plugin_lines() {
        let line: HandshakeLine = "1|1|unix|/tmp/p/plugin.sock|grpc\n".parse().unwrap();
        assert_eq!(
            line,
            HandshakeLine::grpc(Network::Unix, "/tmp/p/plugin.sock")
        );
        assert_eq!(line.to_string(), "1|1|unix|/tmp/p/plugin.sock|grpc");

        // A server certificate and the multiplexing flag are tolerated.
        let line: HandshakeLine = "1|3|tcp|127.0.0.1:1234|grpc||true".parse().unwrap();
        assert_eq!((line.app_version, line.network), (3, Network::Tcp));
        assert_eq!(line.cert, None);
        let cert = "M".repeat(60);
        let line: HandshakeLine = format!("1|1|tcp|127.0.0.1:1234|grpc|{cert}|true")
            .parse()
            .unwrap();
        assert_eq!(line.cert.as_deref(), Some(cert.as_str()));
        let printed = HandshakeLine::grpc(Network::Tcp, "127.0.0.1:1").with_cert(cert.clone());
        assert_eq!(
            printed.to_string(),
            format!("1|1|tcp|127.0.0.1:1|grpc|{cert}")
        );
    }

    #[test]
    fn refuses_what_is_not_a_handshake() {
        for junk in [
            "",
            "hello",
            "1|1|unix",
            "x|1|unix|/s|grpc",
            "1|1|unix||grpc",
        ] {
            assert_eq!(
                junk.parse::<HandshakeLine>(),
                Err(HandshakeError::Malformed),
                "{junk}"
            );
        }
        assert_eq!(
            "1|1|pipe|x|grpc".parse::<HandshakeLine>(),
            Err(HandshakeError::Network("pipe".into()))
        );
    }

    #[test]
    fn surrounding_whitespace_is_trimmed_and_control_characters_refused() {
        // As go-plugin's host does (strings.TrimSpace).
        let line: HandshakeLine = "  1|1|unix|/tmp/p.sock|grpc \r\n".parse().unwrap();
        assert_eq!(line, HandshakeLine::grpc(Network::Unix, "/tmp/p.sock"));
        // Found by the `handshake` fuzz target: a carriage return inside
        // the line was kept in the protocol field, and the line printed
        // back parsed to another value.
        assert_eq!(
            "3|2113|tcp|0.|3\r|p3unix".parse::<HandshakeLine>(),
            Err(HandshakeError::Malformed)
        );
        assert_eq!(
            "1|1|unix|/tmp/a\u{0}b|grpc".parse::<HandshakeLine>(),
            Err(HandshakeError::Malformed)
        );
    }

    #[test]
    fn version_negotiation() {
        assert!(host_offers_our_version(None));
        assert!(host_offers_our_version(Some("")));
        assert!(host_offers_our_version(Some("2, 1")));
        assert!(!host_offers_our_version(Some("2,3")));
    }
}
