//! From a manifest's `grpc:` section to a healthy gRPC channel: checksum,
//! spawn with go-plugin's environment, handshake, connect, health check.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugin_core::manifest::Checksum;
use plugin_core::manifest::Transport;
use proto::channel::Direct;
use proto::handshake::{self, HandshakeLine, Network};
use proto::mtls::{self, Identity};
use sha2::{Digest as _, Sha256};
use tokio::io::BufReader;
use tokio::task::JoinHandle;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use plugin_core::{Artifact, ByteSize, Preopen, ProcessGrant};
use plugin_types::ConfinementReport;
use plugin_types::permissions::Enforcement;

use crate::address;
use crate::confine::{self, Confinement, Spec, View};
use crate::diagnose;
use crate::error::LaunchError;
use crate::logs::{self, Stream};
use crate::process::PluginProcess;

/// What to run, and for how long to wait for it.
pub(crate) struct LaunchSpec<'a> {
    pub(crate) plugin: &'a Arc<str>,
    pub(crate) binary: &'a Path,
    pub(crate) args: &'a [String],
    pub(crate) dir: &'a Path,
    pub(crate) checksum: Option<&'a Checksum>,
    /// The largest executable the host reads (`max_artifact_size`).
    pub(crate) max_artifact_size: ByteSize,
    pub(crate) socket_dir: &'a Path,
    /// The plugin's `HOME`: its data folder, or its temporary folder.
    pub(crate) home: &'a Path,
    /// The plugin's `TMPDIR`, removed with its session.
    pub(crate) temp_dir: &'a Path,
    pub(crate) start_timeout: Duration,
    /// What the host granted the process.
    pub(crate) grant: &'a ProcessGrant,
    /// The TCP ports it may connect to.
    pub(crate) connect: &'a [u16],
    /// The folders the host granted it beyond its own.
    pub(crate) folders: &'a [Preopen],
    /// The transport the plugin is asked to listen on.
    pub(crate) transport: Transport,
    /// Whether to negotiate go-plugin's AutoMTLS.
    pub(crate) mtls: bool,
}

/// A plugin process that answered its handshake, its health check on the
/// way.
pub(crate) struct Launched {
    pub(crate) process: PluginProcess,
    pub(crate) channel: Direct,
    /// The health check, sent as soon as the connection was up: the runner
    /// awaits it beside `Init`, so a fresh plugin serves both at once (the
    /// first requests on a fresh process are its slowest) rather than one
    /// after the other.
    pub(crate) health: JoinHandle<Result<(), LaunchError>>,
    /// The confinement in force.
    pub(crate) confinement: ConfinementReport,
    /// With AutoMTLS: the server side for the host's broker, which requires
    /// the plugin's certificate.
    pub(crate) broker_tls: Option<Arc<rustls::ServerConfig>>,
}

/// Runs the plugin and connects to it. On any error the process is killed
/// (dropping [`PluginProcess`] does it).
pub(crate) async fn launch(spec: &LaunchSpec<'_>) -> Result<Launched, LaunchError> {
    check_binary(spec).await?;
    let socket_dir = spec.socket_dir.to_string_lossy();
    let home = spec.home.to_string_lossy();
    let temp_dir = spec.temp_dir.to_string_lossy();
    let versions = handshake::APP_PROTOCOL_VERSION.to_string();
    let ports = confine::port_window();
    let (min_port, max_port) = (ports.start().to_string(), ports.end().to_string());
    let mut env: Vec<(&str, &str)> = vec![
        ("HOME", &*home),
        ("TMPDIR", &*temp_dir),
        (handshake::MAGIC_COOKIE_KEY, handshake::MAGIC_COOKIE_VALUE),
        (handshake::ENV_PROTOCOL_VERSIONS, versions.as_str()),
        (handshake::ENV_UNIX_SOCKET_DIR, &socket_dir),
        // A window of go-plugin's range, for plugins that listen on TCP;
        // the kernel lets them bind nothing else.
        (handshake::ENV_MIN_PORT, &min_port),
        (handshake::ENV_MAX_PORT, &max_port),
    ];
    if spec.transport == Transport::Tcp {
        env.push((handshake::ENV_TRANSPORT, "tcp"));
    }
    let identity = if spec.mtls {
        Some(Identity::generate()?)
    } else {
        None
    };
    if let Some(identity) = &identity {
        env.push((mtls::ENV_CLIENT_CERT, identity.cert_pem()));
    }
    // The manifest's own (never one of the above: validation refuses them).
    env.extend(spec.grant.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let binary = confine::canonical(spec.binary);
    let plugin_dir = confine::canonical(spec.dir);
    let confinement = Confinement::new(&Spec {
        plugin: spec.plugin,
        view: View {
            binary: &binary,
            plugin_dir: &plugin_dir,
            writable: vec![spec.home, spec.temp_dir, spec.socket_dir],
            granted: confine::granted_folders(spec.folders)?,
            connect: spec.connect,
            bind: ports.clone(),
        },
        grant: spec.grant,
        // Nothing to reach on a network (no TCP port, no UDP) and nothing
        // to be reached on: a network namespace of its own.
        own_network: spec.connect.is_empty()
            && !spec.grant.udp
            && spec.transport == Transport::Unix,
    })?;
    let report = confinement.report().clone();
    let own_network = confinement.own_network();
    let sight = || diagnose::Sight {
        plugin: spec.plugin,
        binary: spec.binary,
        canonical_binary: &binary,
        folders: spec
            .folders
            .iter()
            .map(|f| f.host.clone())
            .chain([spec.home, spec.temp_dir, spec.socket_dir].map(Path::to_path_buf))
            .chain([plugin_dir.clone()])
            .collect(),
        env: &spec.grant.env,
    };
    let confined = spec.grant.enforcement != Enforcement::Off;
    let (process, output) =
        PluginProcess::spawn(&binary, spec.binary, spec.args, spec.dir, &env, confinement)
            .await
            .map_err(|source| LaunchError::Spawn {
                binary: spec.binary.to_owned(),
                hint: confined
                    .then(|| diagnose::spawn_hint(&sight(), &source))
                    .flatten(),
                source,
            })?;
    let tail = logs::Tail::default();
    let stderr = tokio::spawn(logs::forward(
        spec.plugin.to_string(),
        Stream::Stderr,
        output.stderr,
        Some(tail.clone()),
    ));

    let mut stdout = BufReader::new(output.stdout);
    let line = match read_handshake(&process, &mut stdout, spec.start_timeout).await {
        Ok(line) => line,
        Err(LaunchError::ExitedBeforeHandshake { status, .. }) => {
            // What it wrote last, once its stderr is read to the end (a
            // child holding it open is waited for briefly).
            let _ = tokio::time::timeout(Duration::from_secs(1), stderr).await;
            let stderr = tail.lines();
            let hint = confined
                .then(|| diagnose::hint(&sight(), &status, &stderr))
                .flatten();
            return Err(LaunchError::ExitedBeforeHandshake {
                status,
                stderr,
                hint,
            });
        }
        Err(e) => return Err(e),
    };
    // Whatever the plugin prints after the handshake is log output.
    tokio::spawn(logs::forward(
        spec.plugin.to_string(),
        Stream::Stdout,
        stdout,
        None,
    ));

    let handshake = check_handshake(&line)?;
    // Only its own socket or port: never another plugin's, nor the host's.
    let checked = address::check(
        handshake.network,
        &handshake.address,
        spec.socket_dir,
        &ports,
    )
    .map_err(|reason| LaunchError::BadHandshake {
        line: line.clone(),
        reason,
    })?;
    if own_network && handshake.network == Network::Tcp {
        return Err(LaunchError::BadHandshake {
            line,
            reason: "the plugin listens on TCP, but it asked for no network and was asked to listen on a unix socket, so it has a network namespace of its own that the host cannot reach; to let it listen on TCP, set grpc.transport: tcp".to_owned(),
        });
    }
    let (client_tls, broker_tls) = match &identity {
        Some(identity) => {
            let Some(field) = &handshake.cert else {
                return Err(LaunchError::BadHandshake {
                    line,
                    reason: "AutoMTLS is on but the line carries no certificate (a sixth field); the plugin does not speak AutoMTLS".to_owned(),
                });
            };
            let peer = mtls::cert_from_field(field)?;
            (
                Some(Arc::new(identity.client_config(peer.clone())?)),
                Some(Arc::new(identity.server_config(peer)?)),
            )
        }
        None => {
            if handshake.network == Network::Tcp {
                tracing::warn!(plugin = %spec.plugin, "listening on TCP without TLS (grpc.auto_mtls is false)");
            }
            (None, None)
        }
    };
    let channel = tokio::time::timeout(
        spec.start_timeout,
        proto::transport::connect_direct(handshake.network, checked.connect_to(), client_tls),
    )
    .await
    .map_err(|_| LaunchError::Connect {
        address: handshake.address.clone(),
        reason: "timed out".to_owned(),
    })?
    .map_err(|e| LaunchError::Connect {
        address: handshake.address.clone(),
        reason: error_chain(&e),
    })?;
    let health = tokio::spawn(check_health(channel.clone(), spec.start_timeout));
    Ok(Launched {
        process,
        channel,
        health,
        confinement: report,
        broker_tls,
    })
}

/// Checks the executable before it is run: a regular file within
/// `max_artifact_size` (opened without blocking, so a FIFO cannot hang the
/// launch), and, with `grpc.checksum`, hashes that same open file (at most
/// one byte past the limit) and compares.
async fn check_binary(spec: &LaunchSpec<'_>) -> Result<(), LaunchError> {
    let (plugin, path, limit) = (
        spec.plugin.to_string(),
        spec.binary.to_owned(),
        spec.max_artifact_size,
    );
    let checksum = spec.checksum.is_some();
    let digest = tokio::task::spawn_blocking(move || {
        let binary = Artifact::open(&plugin, "grpc.binary", &path, limit)?;
        if !checksum {
            return Ok(None);
        }
        let mut hasher = Sha256::new();
        binary.copy_to(&mut hasher)?;
        Ok::<_, LaunchError>(Some(<[u8; 32]>::from(hasher.finalize())))
    })
    .await
    .map_err(|e| LaunchError::Spawn {
        binary: spec.binary.to_owned(),
        source: std::io::Error::other(e),
        hint: None,
    })??;
    let (Some(expected), Some(digest)) = (spec.checksum, digest) else {
        return Ok(());
    };
    let actual = Checksum::sha256(digest);
    if &actual == expected {
        Ok(())
    } else {
        Err(LaunchError::ChecksumMismatch {
            binary: spec.binary.to_owned(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// Reads the first line of stdout, within the start timeout.
async fn read_handshake(
    process: &PluginProcess,
    stdout: &mut BufReader<tokio::process::ChildStdout>,
    timeout: Duration,
) -> Result<String, LaunchError> {
    let mut line = Vec::new();
    let read = tokio::time::timeout(timeout, logs::read_bounded_line(stdout, &mut line)).await;
    match read {
        Err(_) => Err(LaunchError::HandshakeTimeout(timeout)),
        Ok(Ok(0) | Err(_)) => {
            // Stdout closed: the plugin is exiting (or closed stdout, which
            // is as good as never answering).
            let status = tokio::time::timeout(Duration::from_secs(2), process.wait())
                .await
                .unwrap_or_else(|_| "closed its stdout".to_owned());
            Err(LaunchError::ExitedBeforeHandshake {
                status,
                stderr: Vec::new(),
                hint: None,
            })
        }
        Ok(Ok(_)) => Ok(String::from_utf8_lossy(&line).into_owned()),
    }
}

/// Checks a handshake line against what this host speaks.
fn check_handshake(line: &str) -> Result<HandshakeLine, LaunchError> {
    let bad = |reason: String| LaunchError::BadHandshake {
        line: line.to_owned(),
        reason,
    };
    let handshake: HandshakeLine = line.parse().map_err(|e| bad(format!("{e}")))?;
    if handshake.core_version != handshake::CORE_PROTOCOL_VERSION {
        return Err(bad(format!(
            "go-plugin core protocol version {} (this host speaks {})",
            handshake.core_version,
            handshake::CORE_PROTOCOL_VERSION
        )));
    }
    if handshake.app_version != handshake::APP_PROTOCOL_VERSION {
        return Err(bad(format!(
            "plugin protocol version {} (this host speaks {})",
            handshake.app_version,
            handshake::APP_PROTOCOL_VERSION
        )));
    }
    if handshake.protocol != "grpc" {
        return Err(bad(format!(
            "protocol {:?} is not supported; this host speaks grpc only",
            handshake.protocol
        )));
    }
    Ok(handshake)
}

/// Asks `grpc.health.v1` about service `plugin`; a plugin without the health
/// service is taken as healthy (the handshake already proved it listens).
async fn check_health(channel: Direct, timeout: Duration) -> Result<(), LaunchError> {
    let mut client = HealthClient::new(channel);
    let request = HealthCheckRequest {
        service: handshake::HEALTH_SERVICE.to_owned(),
    };
    match tokio::time::timeout(timeout, client.check(request)).await {
        Err(_) => Err(LaunchError::Unhealthy("no answer".to_owned())),
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => Ok(()),
        Ok(Err(status)) => Err(LaunchError::Unhealthy(status.message().to_owned())),
        Ok(Ok(response)) => match response.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(LaunchError::Unhealthy(format!(
                "status {}",
                other.as_str_name()
            ))),
        },
    }
}

/// An error and its sources on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_checks_name_what_is_wrong() {
        assert!(check_handshake("1|1|unix|/s|grpc").is_ok());
        let message = |line: &str| check_handshake(line).unwrap_err().to_string();
        assert_eq!(
            message("1|2|unix|/s|grpc"),
            "bad handshake \"1|2|unix|/s|grpc\": plugin protocol version 2 (this host speaks 1)"
        );
        assert!(message("2|1|unix|/s|grpc").contains("core protocol version 2"));
        assert!(message("1|1|unix|/s|netrpc").contains("\"netrpc\" is not supported"));
        assert!(message("Starting up...").contains("not a go-plugin handshake line"));
    }
}
