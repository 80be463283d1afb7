//! [`serve`]: go-plugin's server half for a [`Module`].

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use proto::flowbot::plugin::plugin_service_server::PluginServiceServer;
use proto::go_plugin::grpc_broker_server::GrpcBrokerServer;
use proto::go_plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use proto::go_plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use proto::go_plugin::{Empty, StdioData};
use proto::handshake::{self, HandshakeLine, Network};
use proto::transport::tls_incoming;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use super::broker::Broker;
use super::module::Module;
use super::service::ModuleService;
use super::stream::{ServerStream, silent_until, stopped};

/// How long in-flight requests get to finish once shutdown is asked for.
const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(1);
/// How often the plugin checks that its host is still alive.
const PARENT_POLL: Duration = Duration::from_millis(250);

/// Why [`serve`] could not serve.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket could not be created.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// AutoMTLS: the host's certificate is unreadable, or ours could not be
    /// made.
    #[error("AutoMTLS: {0}")]
    Mtls(#[from] proto::mtls::MtlsError),
    /// The handshake line could not be written to stdout.
    #[error("cannot write the handshake to stdout: {0}")]
    Handshake(std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// How [`serve_with`] serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The largest message decoded or encoded, on the plugin's server and
    /// on its callbacks to the host. Default
    /// [`proto::DEFAULT_MAX_MESSAGE_SIZE`] (4 MiB).
    pub max_message_size: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_message_size: proto::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

impl ServeOptions {
    /// Bounds every message to `bytes`.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}

/// Serves `module` with the default [`ServeOptions`]; see [`serve_with`].
pub async fn serve<M: Module>(module: M) -> Result<(), ServeError> {
    serve_with(module, ServeOptions::default()).await
}

/// Serves `module` as a go-plugin gRPC plugin, until the host asks it to
/// shut down (`GRPCController.Shutdown`) or goes away; then returns `Ok`.
///
/// It does the server half of go-plugin's protocol: checks the magic cookie
/// (run by hand, without a host, it prints an explanation to stderr and
/// exits the process with status 1), listens on a unix socket in the folder
/// the host names (or, when the host sets `PLUGIN_TRANSPORT=tcp`, on the
/// first free loopback port of its `PLUGIN_MIN_PORT`-`PLUGIN_MAX_PORT`
/// range), negotiates go-plugin's AutoMTLS when the host passes its
/// certificate in `PLUGIN_CLIENT_CERT` (serving TLS that admits only the
/// host's certificate, and announcing its own in the handshake's sixth
/// field), prints the handshake line on stdout, and serves
/// `PluginService`, `grpc.health.v1` (service `plugin`), `GRPCBroker`,
/// `GRPCController` and `GRPCStdio`. Host callbacks are available through
/// [`host()`](super::host) from `Module::init` on.
///
/// After the handshake, stdout and stderr are free for the plugin's own
/// output: the host logs them line by line.
pub async fn serve_with<M: Module>(module: M, options: ServeOptions) -> Result<(), ServeError> {
    if std::env::var(handshake::MAGIC_COOKIE_KEY).as_deref() != Ok(handshake::MAGIC_COOKIE_VALUE) {
        eprintln!(
            "This binary is a plugin. It is not meant to be run directly: a host \
             (`pluginctl`, or any go-plugin host using the flowbot handshake) \
             starts it and talks to it over gRPC."
        );
        std::process::exit(1);
    }
    let versions = std::env::var(handshake::ENV_PROTOCOL_VERSIONS).ok();
    if !handshake::host_offers_our_version(versions.as_deref()) {
        // As go-plugin does: answer with our version and let the host report
        // the mismatch, naming both.
        eprintln!(
            "the host offers protocol versions {versions:?}; this plugin speaks {}",
            handshake::APP_PROTOCOL_VERSION
        );
    }

    // AutoMTLS, when the host asks for it.
    let tls = match std::env::var(proto::mtls::ENV_CLIENT_CERT) {
        Ok(pem) if !pem.trim().is_empty() => {
            let host = proto::mtls::cert_from_pem(&pem)?;
            let identity = proto::mtls::Identity::generate()?;
            Some(Tls {
                server: Arc::new(identity.server_config(host.clone())?),
                client: Arc::new(identity.client_config(host)?),
                field: identity.handshake_field(),
            })
        }
        _ => None,
    };
    let (listener, _socket) = listen()?;
    let (shutdown, stop) = watch::channel(false);
    let broker = Broker::new(stop.clone(), tls.as_ref().map(|t| t.client.clone()));
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(
            handshake::HEALTH_SERVICE,
            tonic_health::ServingStatus::Serving,
        )
        .await;
    let max = options.max_message_size;
    let plugin =
        PluginServiceServer::new(ModuleService::new(Arc::new(module), broker.clone(), max))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
    let router = Server::builder()
        .add_service(plugin)
        .add_service(health_service)
        .add_service(GrpcBrokerServer::new(broker))
        .add_service(GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcStdioServer::new(Stdio { stop: stop.clone() }));
    let until = stopped(stop.clone());
    let (line, server): (HandshakeLine, Serving) = match (listener, &tls) {
        (Listener::Unix(listener, path), None) => (
            HandshakeLine::grpc(Network::Unix, path),
            Box::pin(router.serve_with_incoming_shutdown(UnixListenerStream::new(listener), until)),
        ),
        (Listener::Unix(listener, path), Some(tls)) => (
            HandshakeLine::grpc(Network::Unix, path),
            Box::pin(router.serve_with_incoming_shutdown(
                tls_incoming(UnixListenerStream::new(listener), tls.server.clone()),
                until,
            )),
        ),
        (Listener::Tcp(listener, address), None) => (
            HandshakeLine::grpc(Network::Tcp, address),
            Box::pin(router.serve_with_incoming_shutdown(TcpListenerStream::new(listener), until)),
        ),
        (Listener::Tcp(listener, address), Some(tls)) => (
            HandshakeLine::grpc(Network::Tcp, address),
            Box::pin(router.serve_with_incoming_shutdown(
                tls_incoming(TcpListenerStream::new(listener), tls.server.clone()),
                until,
            )),
        ),
    };
    let line = match &tls {
        Some(tls) => line.with_cert(tls.field.clone()),
        None => line,
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(ServeError::Handshake)?;
    drop(stdout);

    tokio::spawn(watch_parent(shutdown));
    tokio::select! {
        result = server => result?,
        // Streams or calls that outlive the grace period do not keep the
        // plugin alive.
        () = async { stopped(stop).await; tokio::time::sleep(GRACEFUL_SHUTDOWN).await } => {}
    }
    Ok(())
}

/// The server, until shutdown.
type Serving = Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>>;

/// AutoMTLS: the plugin's TLS server, its broker dials, and the handshake
/// field announcing its certificate.
struct Tls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    field: String,
}

/// Where the plugin listens.
enum Listener {
    /// A socket, and its path.
    Unix(UnixListener, String),
    /// A loopback port, and its `host:port`.
    Tcp(TcpListener, String),
}

/// Listens where the host asks: a unix socket with a fresh name directly
/// in `PLUGIN_UNIX_SOCKET_DIR` (its path is returned, and the socket
/// removed when dropped), or the first free loopback port of the host's
/// range.
fn listen() -> Result<(Listener, Option<tempfile::TempPath>), ServeError> {
    if std::env::var(handshake::ENV_TRANSPORT).as_deref() == Ok("tcp") {
        let port = |name, default| {
            std::env::var(name)
                .ok()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(default)
        };
        let (min, max) = (
            port(handshake::ENV_MIN_PORT, 10_000),
            port(handshake::ENV_MAX_PORT, 25_000),
        );
        let mut last = None;
        for port in min..=max {
            match std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)) {
                Ok(listener) => {
                    let address = format!("127.0.0.1:{port}");
                    let listen = |source| ServeError::Listen {
                        path: address.clone(),
                        source,
                    };
                    listener.set_nonblocking(true).map_err(listen)?;
                    let listener = TcpListener::from_std(listener).map_err(listen)?;
                    return Ok((Listener::Tcp(listener, address), None));
                }
                Err(e) => last = Some(e),
            }
        }
        return Err(ServeError::Listen {
            path: format!("127.0.0.1:{min}-{max}"),
            source: last.unwrap_or_else(|| std::io::Error::other("an empty port range")),
        });
    }
    let parent = std::env::var_os(handshake::ENV_UNIX_SOCKET_DIR)
        .map_or_else(std::env::temp_dir, Into::into);
    // Directly in the folder, as go-plugin does: a host accepts only a
    // socket whose parent is the folder it gave. Removed on the way out.
    let socket = tempfile::Builder::new()
        .prefix("plugin")
        .suffix(".sock")
        .make_in(&parent, |path| UnixListener::bind(path))
        .map_err(|source| ServeError::Listen {
            path: parent.display().to_string(),
            source,
        })?;
    let path = socket.path().to_string_lossy().into_owned();
    let (listener, socket) = socket.into_parts();
    Ok((Listener::Unix(listener, path), Some(socket)))
}

/// Asks for shutdown when the host process goes away (the plugin is then
/// re-parented), for hosts that do not kill their plugins themselves.
async fn watch_parent(shutdown: watch::Sender<bool>) {
    let parent = std::os::unix::process::parent_id();
    loop {
        tokio::time::sleep(PARENT_POLL).await;
        if std::os::unix::process::parent_id() != parent {
            shutdown.send_replace(true);
            return;
        }
    }
}

/// `GRPCController`: `Shutdown` stops serving and lets `serve` return.
struct Controller {
    shutdown: watch::Sender<bool>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.shutdown.send_replace(true);
        Ok(Response::new(Empty {}))
    }
}

/// `GRPCStdio`: this SDK leaves stdout and stderr to the process (the host
/// reads them directly), so the stream stays open and quiet until shutdown.
struct Stdio {
    stop: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = ServerStream<StdioData>;

    async fn stream_stdio(
        &self,
        _: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(silent_until(self.stop.clone())))
    }
}
