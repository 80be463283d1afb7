//! A test plugin that follows go-plugin's protocol by hand, without the
//! SDK: it shows that any gRPC program printing the handshake line loads.
//! Its first argument picks a behaviour, most of them hostile:
//!
//! - `serve` (default): serves `PluginService` (`Init`, `Command`, `Call`),
//!   health, `GRPCController` and `GRPCStdio` (no broker);
//! - `junk`: prints a line of text before the handshake;
//! - `silent`: never prints a handshake;
//! - `exit`: exits with status 3 at once;
//! - `stderr-exit`: writes 30 numbered lines on stderr, then that it was
//!   refused `/opt/raw-missing/lib/libx.so`, and exits with status 1;
//! - `version`: answers with app protocol version 7;
//! - `netrpc`: answers with protocol `netrpc`;
//! - `unhealthy`: reports service `plugin` as not serving;
//! - `tcp`: serves on a loopback TCP port instead of a unix socket;
//! - `mtls-mismatch`: does AutoMTLS, but serves with a certificate other
//!   than the one its handshake announces (an impostor);
//! - `no-mtls`: ignores the host's AutoMTLS certificate (every other mode
//!   speaks AutoMTLS when the host passes one in `PLUGIN_CLIENT_CERT`);
//! - `announce`: listens on its own socket but announces `RAW_ANNOUNCE`
//!   (`unix:PATH` or `tcp:HOST:PORT`), another plugin's socket, say;
//!   `announce-link`: announces a link in its own socket folder to it.
//! - `broker`: serves as `serve` does, plus `GRPCBroker`, through which it
//!   learns where the host's `HostService` is (for `emit`).
//!
//! `Command` echoes its context and content (content `"array"`: answers
//! `[1,2]`); `WebhookConvert` makes one event per payload (`wrong-shape`:
//! answers an object); `OAuthAuthorize` and `OAuthCallback` answer a URL and
//! a token (no code: a token without `access_token`).
//!
//! `Call` functions: `echo` (returns its params), `config` (the config from
//! `Init`), `pid`, `sleep` (params: milliseconds), `crash` (aborts
//! mid-call), `hang` (never answers),
//! `spawn_child` (starts a `sleep` child and returns its pid), `emit` (in
//! mode `broker`: calls the host's `EmitEvent` with `source: "victim"` and
//! the params as the payload; answers `{"ok": ""}` or `{"err": why}`).
//!
//! Hostile `Call` functions, each answering `{"ok": …}` or `{"err": the
//! OS's message}`: `env`, `limits`, `read`, `write` (see below), `connect`
//! (a TCP connection to the params' `host:port`), `connect_unix` (a
//! connection to the unix socket at the params' path), `interface` (the
//! index of the network interface the params name), `bind` (a TCP listener on
//! the params' `host:port`), `udp` (a datagram to the params' `host:port`),
//! `raw_socket`, `fork` (the params' number of processes, each sleeping; it
//! stops at the first refusal), `alloc` (the params' number of MiB, written
//! to) and `kill` (signal 0 to the params' pid); around the kernel's rules
//! (`hostile`): `mptcp` (an MPTCP connection to the params' IPv4
//! `host:port`), `fast_open` (a TCP Fast Open `sendto` there), `x32` (an
//! MPTCP socket and connect through the x32 ABI), `ptrace` (`[pid]`),
//! `poke` (`[pid, address, value]`: `process_vm_writev` of a u64), and
//! `spin` (two busy threads for the params' milliseconds, answering the
//! CPU time used).

mod hostile;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use proto::flowbot::plugin as pb;
use proto::flowbot::plugin::plugin_service_server::{PluginService, PluginServiceServer};
use proto::go_plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use proto::go_plugin::grpc_stdio_server::{GrpcStdio, GrpcStdioServer};
use proto::go_plugin::{Empty, StdioData, stdio_data};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::{Request, Response, Status};

/// Where the host's `HostService` is, once its broker said so.
static HOST_SERVICE: OnceLock<String> = OnceLock::new();

/// Keeps the host's broker stream open, noting the `HostService` address
/// it announces.
struct Broker;

#[tonic::async_trait]
impl proto::go_plugin::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = ReceiverStream<Result<proto::go_plugin::ConnInfo, Status>>;

    async fn start_stream(
        &self,
        r: Request<tonic::Streaming<proto::go_plugin::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut inbound = r.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            while let Ok(Some(info)) = inbound.message().await {
                let _ = HOST_SERVICE.set(info.address);
            }
            drop(tx);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Emits an event through the host's `HostService` in another plugin's
/// name.
async fn emit_as_victim(payload: String) -> String {
    let Some(address) = HOST_SERVICE.get() else {
        return serde_json::json!({ "err": "no host broker" }).to_string();
    };
    let channel = proto::transport::connect(proto::handshake::Network::Unix, address, None).await;
    let sent = match channel {
        Ok(channel) => pb::host_service_client::HostServiceClient::new(channel)
            .emit_event(pb::EmitEventRequest {
                source: "victim".into(),
                event_type: "forged".into(),
                payload,
            })
            .await
            .map(|_| String::new())
            .map_err(|status| std::io::Error::other(status.message().to_owned())),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    };
    outcome(sent)
}

#[derive(Default)]
struct Raw {
    config: Mutex<String>,
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the raw plugin"))
}

#[tonic::async_trait]
impl PluginService for Raw {
    async fn init(
        &self,
        r: Request<pb::InitRequest>,
    ) -> Result<Response<pb::InitResponse>, Status> {
        let config = r.into_inner().config;
        if config.contains("\"fail_init\"") {
            return Err(Status::failed_precondition("refusing this config"));
        }
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(Response::new(pb::InitResponse {}))
    }
    async fn bootstrap(&self, _: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
    async fn command(
        &self,
        r: Request<pb::CommandRequest>,
    ) -> Result<Response<pb::CommandResponse>, Status> {
        let r = r.into_inner();
        // `"array"` answers valid JSON that is not a message payload.
        let payload = if r.content == r#""array""# {
            "[1,2]".to_owned()
        } else {
            format!(r#"{{"context":{},"content":{}}}"#, r.context, r.content)
        };
        Ok(Response::new(pb::CommandResponse {
            payload,
            error: String::new(),
        }))
    }
    async fn form(
        &self,
        _: Request<pb::FormRequest>,
    ) -> Result<Response<pb::FormResponse>, Status> {
        unimplemented()
    }
    async fn rules(&self, _: Request<()>) -> Result<Response<pb::RulesResponse>, Status> {
        Ok(Response::new(pb::RulesResponse {
            rules: "not json".to_owned(),
            error: String::new(),
        }))
    }
    async fn help(&self, _: Request<()>) -> Result<Response<pb::HelpResponse>, Status> {
        Ok(Response::new(pb::HelpResponse {
            help: String::new(),
            error: "no help here".to_owned(),
        }))
    }
    async fn is_ready(&self, _: Request<()>) -> Result<Response<pb::IsReadyResponse>, Status> {
        Ok(Response::new(pb::IsReadyResponse { ready: true }))
    }
    async fn ability_call(
        &self,
        _: Request<pb::CallRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        unimplemented()
    }
    async fn webhook_convert(
        &self,
        r: Request<pb::WebhookConvertRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        // One event per payload, or (for `wrong-shape`) an object where an
        // array belongs.
        let payload = String::from_utf8_lossy(&r.into_inner().payload).into_owned();
        let result = if payload == "wrong-shape" {
            r#"{"not":"an array"}"#.to_owned()
        } else {
            format!(r#"[{{"event_type":"push","entity_id":{payload:?},"data":null}}]"#)
        };
        Ok(Response::new(pb::CallResponse {
            result,
            error: String::new(),
        }))
    }
    async fn o_auth_callback(
        &self,
        r: Request<pb::OAuthCallbackRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let code = r.into_inner().code;
        let result = if code.is_empty() {
            r#"{"type":"oauth2"}"#.to_owned()
        } else {
            format!(r#"{{"type":"oauth2","access_token":"tok-{code}"}}"#)
        };
        Ok(Response::new(pb::CallResponse {
            result,
            error: String::new(),
        }))
    }
    async fn call(
        &self,
        r: Request<pb::FunctionCallRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let r = r.into_inner();
        let result = match r.function.as_str() {
            "echo" => r.params,
            // A JSON string of as many bytes as the params say.
            "big" => format!("\"{}\"", "z".repeat(r.params.parse().unwrap_or(0))),
            "config" => self
                .config
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            "pid" => std::process::id().to_string(),
            "emit" => emit_as_victim(r.params).await,
            // The value of the environment variable named by the params (a
            // JSON string), or null.
            "env" => {
                let name: String = serde_json::from_str(&r.params).unwrap_or_default();
                serde_json::to_string(&std::env::var(&name).ok()).unwrap_or_default()
            }
            // The process's own limits, as the kernel reports them.
            "limits" => {
                use rustix::process::{Resource, getrlimit};
                let limits = serde_json::json!({
                    "no_new_privs": rustix::thread::no_new_privs().ok(),
                    "core": getrlimit(Resource::Core).maximum,
                    "open_files": getrlimit(Resource::Nofile).maximum,
                });
                limits.to_string()
            }
            // Reads the file or lists the folder named by the params (a JSON
            // string): {"ok": text} or {"err": the OS's message}.
            "read" => {
                let path: String = serde_json::from_str(&r.params).unwrap_or_default();
                let read = match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_dir() => std::fs::read_dir(&path)
                        .map(|entries| entries.filter_map(|e| e.ok()).count().to_string()),
                    _ => std::fs::read_to_string(&path),
                };
                outcome(read)
            }
            // Writes params[1] to the file params[0].
            "write" => {
                let (path, text): (String, String) =
                    serde_json::from_str(&r.params).unwrap_or_default();
                outcome(std::fs::write(path, text).map(|()| String::new()))
            }
            "connect" => {
                let address: String = serde_json::from_str(&r.params).unwrap_or_default();
                outcome(
                    std::net::TcpStream::connect(&address)
                        .map(|s| s.peer_addr().map(|a| a.to_string()).unwrap_or_default()),
                )
            }
            // Connects to the unix socket at the params' path.
            "connect_unix" => {
                let path: String = serde_json::from_str(&r.params).unwrap_or_default();
                outcome(std::os::unix::net::UnixStream::connect(&path).map(|_| path))
            }
            "bind" => {
                let address: String = serde_json::from_str(&r.params).unwrap_or_default();
                outcome(
                    std::net::TcpListener::bind(&address)
                        .map(|l| l.local_addr().map(|a| a.to_string()).unwrap_or_default()),
                )
            }
            "udp" => {
                let address: String = serde_json::from_str(&r.params).unwrap_or_default();
                outcome(
                    std::net::UdpSocket::bind("0.0.0.0:0")
                        .and_then(|s| s.send_to(b"hello", &address))
                        .map(|n| n.to_string()),
                )
            }
            // Ways around the TCP rules, to the address in the params.
            "mptcp" | "fast_open" | "x32" => {
                let address: String = serde_json::from_str(&r.params).unwrap_or_default();
                let attempt = match address.parse() {
                    Ok(address) => match r.function.as_str() {
                        "mptcp" => hostile::mptcp_connect(address),
                        "fast_open" => hostile::fast_open(address),
                        _ => hostile::x32_connect(address),
                    },
                    Err(_) => Err(std::io::Error::other("not an IPv4 address")),
                };
                outcome(attempt)
            }
            // The filesystem's root, by handle, from the folder in the
            // params ("shocker").
            "by_handle" => {
                let dir: String = serde_json::from_str(&r.params).unwrap_or_default();
                outcome(hostile::by_handle(&dir))
            }
            "capabilities" => outcome(hostile::capabilities()),
            // Another process: attach to it ([pid]), or write a u64 into
            // its memory ([pid, address, value]).
            "ptrace" | "poke" => {
                let args: Vec<u64> = serde_json::from_str(&r.params).unwrap_or_default();
                let pid = args
                    .first()
                    .and_then(|p| i32::try_from(*p).ok())
                    .unwrap_or(0);
                outcome(match (r.function.as_str(), args.get(1), args.get(2)) {
                    ("poke", Some(address), Some(value)) => {
                        hostile::poke(pid, *address as usize, *value)
                    }
                    _ => hostile::ptrace(pid),
                })
            }
            // Two threads spinning for the params' milliseconds: the CPU
            // time they got.
            "spin" => {
                let ms: u64 = r.params.trim().parse().unwrap_or(0);
                let before = hostile::cpu_time_ms();
                let until = std::time::Instant::now() + Duration::from_millis(ms);
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        s.spawn(|| {
                            while std::time::Instant::now() < until {
                                std::hint::spin_loop();
                            }
                        });
                    }
                });
                serde_json::json!({ "cpu_ms": hostile::cpu_time_ms() - before }).to_string()
            }
            // The index of the network interface named by the params, as
            // the plugin's network namespace sees it (an ioctl on a unix
            // socket).
            "interface" => {
                use rustix::net::{AddressFamily, SocketType, netdevice, socket};
                let name: String = serde_json::from_str(&r.params).unwrap_or_default();
                outcome(
                    socket(AddressFamily::UNIX, SocketType::DGRAM, None)
                        .and_then(|fd| netdevice::name_to_index(&fd, &name))
                        .map(|index| index.to_string())
                        .map_err(std::io::Error::from),
                )
            }
            "raw_socket" => {
                use rustix::net::{AddressFamily, SocketType, socket};
                outcome(
                    socket(AddressFamily::INET, SocketType::RAW, None)
                        .map(|_| "opened".to_owned())
                        .map_err(std::io::Error::from),
                )
            }
            "fork" => {
                let count: usize = r.params.trim().parse().unwrap_or(0);
                let mut children = Vec::new();
                let mut refused = None;
                for _ in 0..count {
                    match std::process::Command::new("sleep").arg("60").spawn() {
                        Ok(child) => children.push(child),
                        Err(e) => {
                            refused = Some(e);
                            break;
                        }
                    }
                }
                let started = children.len();
                for mut child in children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                match refused {
                    Some(e) => serde_json::json!({ "err": e.to_string(), "started": started }),
                    None => serde_json::json!({ "ok": started }),
                }
                .to_string()
            }
            "alloc" => {
                let mib: usize = r.params.trim().parse().unwrap_or(0);
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                let mut failed = None;
                for _ in 0..mib {
                    let mut block = Vec::new();
                    if let Err(e) = block.try_reserve_exact(1 << 20) {
                        failed = Some(e.to_string());
                        break;
                    }
                    block.resize(1 << 20, 1);
                    blocks.push(block);
                }
                match failed {
                    Some(e) => serde_json::json!({ "err": e, "mib": blocks.len() }),
                    None => serde_json::json!({ "ok": blocks.len() }),
                }
                .to_string()
            }
            "kill" => {
                let pid: i32 = r.params.trim().parse().unwrap_or(0);
                outcome(
                    rustix::process::Pid::from_raw(pid)
                        .ok_or(rustix::io::Errno::INVAL)
                        .and_then(rustix::process::test_kill_process)
                        .map(|()| "alive".to_owned())
                        .map_err(std::io::Error::from),
                )
            }
            "crash" => std::process::abort(),
            "sleep" => {
                let ms = r.params.trim().parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "\"slept\"".to_owned()
            }
            "hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                String::new()
            }
            "spawn_child" => match std::process::Command::new("sleep").arg("300").spawn() {
                Ok(child) => child.id().to_string(),
                Err(e) => return Err(Status::internal(e.to_string())),
            },
            _ => return unimplemented(),
        };
        Ok(Response::new(pb::CallResponse {
            result,
            error: String::new(),
        }))
    }
    async fn input(
        &self,
        _: Request<pb::InputRequest>,
    ) -> Result<Response<pb::InputResponse>, Status> {
        unimplemented()
    }
    async fn o_auth_authorize(
        &self,
        r: Request<pb::OAuthAuthorizeRequest>,
    ) -> Result<Response<pb::OAuthAuthorizeResponse>, Status> {
        Ok(Response::new(pb::OAuthAuthorizeResponse {
            url: format!("https://auth.example/?state={}", r.into_inner().state),
            error: String::new(),
        }))
    }
}

/// A file operation's outcome as JSON: `{"ok": …}` or `{"err": …}`.
fn outcome(result: std::io::Result<String>) -> String {
    match result {
        Ok(text) => serde_json::json!({ "ok": text }),
        Err(e) => serde_json::json!({ "err": e.to_string() }),
    }
    .to_string()
}

struct Controller;

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            std::process::exit(0);
        });
        Ok(Response::new(Empty {}))
    }
}

struct Stdio;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = ReceiverStream<Result<StdioData, Status>>;

    async fn stream_stdio(
        &self,
        _: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let _ = tx
                .send(Ok(StdioData {
                    channel: stdio_data::Channel::Stderr as i32,
                    data: b"raw plugin says hi via stdio\n".to_vec(),
                }))
                .await;
            // Keep the stream open for the life of the process.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(tx);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    if std::env::var("FLOWBOT_PLUGIN").as_deref() != Ok("flowbot-plugin-v1") {
        eprintln!("run me from a host");
        std::process::exit(1);
    }
    match mode.as_str() {
        "exit" => std::process::exit(3),
        "stderr-exit" => {
            for i in 0..30 {
                eprintln!("line {i}");
            }
            eprintln!("cannot open '/opt/raw-missing/lib/libx.so': Permission denied");
            std::process::exit(1);
        }
        "silent" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        _ => {}
    }
    // AutoMTLS as go-plugin's servers do it: when the host passes its
    // certificate (unless told to ignore it).
    let host_cert = std::env::var(proto::mtls::ENV_CLIENT_CERT)
        .ok()
        .filter(|_| mode != "no-mtls");
    let tls = match host_cert {
        None => None,
        Some(pem) => {
            let host = proto::mtls::cert_from_pem(&pem).map_err(|e| e.to_string());
            let identities = (
                proto::mtls::Identity::generate(),
                proto::mtls::Identity::generate(),
            );
            let (Ok(host), (Ok(own), Ok(other))) = (host, identities) else {
                fail("no host certificate, or none of our own")
            };
            // An impostor serves with a certificate other than the one it
            // announces.
            let announced = if mode == "mtls-mismatch" {
                &other
            } else {
                &own
            };
            let field = announced.handshake_field();
            let Ok(config) = own.server_config(host) else {
                fail("no TLS configuration")
            };
            Some((std::sync::Arc::new(config), field))
        }
    };
    let cert = tls
        .as_ref()
        .map_or(String::new(), |(_, field)| format!("|{field}"));
    if mode == "tcp" {
        // As go-plugin does: the first free port of the host's range.
        let port = |name| std::env::var(name).ok().and_then(|p| p.parse::<u16>().ok());
        let (Some(min), Some(max)) = (port("PLUGIN_MIN_PORT"), port("PLUGIN_MAX_PORT")) else {
            fail("no PLUGIN_MIN_PORT and PLUGIN_MAX_PORT")
        };
        let mut bound = None;
        for port in min..=max {
            if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                bound = Some(listener);
                break;
            }
        }
        let Some(listener) = bound else {
            fail(&format!("cannot listen on TCP in {min}-{max}"))
        };
        let address = match listener.local_addr() {
            Ok(address) => address,
            Err(e) => fail(&e.to_string()),
        };
        println!("1|1|tcp|{address}|grpc{cert}");
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let router = server("serve").await;
        let served = match tls {
            Some((config, _)) => {
                router
                    .serve_with_incoming(proto::transport::tls_incoming(incoming, config))
                    .await
            }
            None => router.serve_with_incoming(incoming).await,
        };
        if let Err(e) = served {
            fail(&format!("server failed: {e}"));
        }
        return;
    }
    let dir = std::env::var("PLUGIN_UNIX_SOCKET_DIR").unwrap_or_else(|_| "/tmp".to_owned());
    let path = format!("{dir}/raw-{}.sock", std::process::id());
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(e) => fail(&format!("cannot listen on {path}: {e}")),
    };
    let (version, protocol) = match mode.as_str() {
        "version" => (7, "grpc"),
        "netrpc" => (1, "netrpc"),
        _ => (1, "grpc"),
    };
    if mode == "junk" {
        println!("Starting up, please wait...");
    }
    // A hostile handshake: it listens on its own socket but announces
    // another address (`RAW_ANNOUNCE`: `unix:PATH` or `tcp:HOST:PORT`),
    // directly or (`announce-link`) through a link in its own folder.
    let (network, address) = match mode.as_str() {
        "announce" | "announce-link" => {
            let target = std::env::var("RAW_ANNOUNCE").unwrap_or_default();
            let Some((network, address)) = target.split_once(':') else {
                fail("RAW_ANNOUNCE is not NETWORK:ADDRESS")
            };
            if mode == "announce-link" {
                let link = format!("{dir}/link-{}.sock", std::process::id());
                if let Err(e) = std::os::unix::fs::symlink(address, &link) {
                    fail(&format!("cannot link {link}: {e}"));
                }
                (network.to_owned(), link)
            } else {
                (network.to_owned(), address.to_owned())
            }
        }
        _ => ("unix".to_owned(), path.clone()),
    };
    println!("1|{version}|{network}|{address}|{protocol}{cert}");
    eprintln!(r#"{{"@level":"warn","@message":"raw plugin started","@module":"raw"}}"#);
    let incoming = UnixListenerStream::new(listener);
    let router = server(&mode).await;
    let served = match tls {
        Some((config, _)) => {
            router
                .serve_with_incoming(proto::transport::tls_incoming(incoming, config))
                .await
        }
        None => router.serve_with_incoming(incoming).await,
    };
    if let Err(e) = served {
        fail(&format!("server failed: {e}"));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

/// The services, with health per `mode`.
async fn server(mode: &str) -> tonic::transport::server::Router {
    let (health, health_service) = tonic_health::server::health_reporter();
    let status = if mode == "unhealthy" {
        tonic_health::ServingStatus::NotServing
    } else {
        tonic_health::ServingStatus::Serving
    };
    health.set_service_status("plugin", status).await;
    let broker = (mode == "broker")
        .then(|| proto::go_plugin::grpc_broker_server::GrpcBrokerServer::new(Broker));
    tonic::transport::Server::builder()
        .add_service(PluginServiceServer::new(Raw::default()))
        .add_service(health_service)
        .add_service(GrpcControllerServer::new(Controller))
        .add_service(GrpcStdioServer::new(Stdio))
        .add_optional_service(broker)
}
