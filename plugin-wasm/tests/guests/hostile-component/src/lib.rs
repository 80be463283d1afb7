//! A hostile component for the runner's tests (built for `wasm32-wasip2` by
//! `cargo xtask examples`). Its functions:
//! - `spin`: loops forever;
//! - `trap`: panics (a trap);
//! - `hoard` (MiB): allocates and keeps memory until refused;
//! - `huge` (MiB): answers a string of that size;
//! - `count`: how many times this instance has been called, counting this
//!   one (a fresh instance answers 1);
//! - `fetch` (URL): an HTTP GET through the host's `fetch` import;
//! - `wasi_fetch` (authority and path, over http): an HTTP GET through
//!   `wasi:http/outgoing-handler`, as a guest's own HTTP client makes it;
//! - `wasi_post` (`{target, mib}`): a POST of that many MiB through
//!   `wasi:http`, streamed;
//! - `fetch_as` (`{url, headers}`) and `wasi_fetch_as` (`{url: authority
//!   and path, headers}`): a GET with these headers (`[[name, value]]`)
//!   through `fetch` and through `wasi:http`; the body's text;
//! - `read` (path): a file's text, through WASI;
//! - `connect` (address): sends a line over TCP through `wasi:sockets` and
//!   answers the line that comes back;
//! - `listen` (address): binds a TCP socket there through raw
//!   `wasi:sockets`, listens and accepts one connection; fails naming the
//!   step refused;
//! - `emit` (a `DataEvent`): emits it as written, `source` included;
//! - `not_json`: answers text that is not JSON.
#![cfg(all(target_arch = "wasm32", target_env = "p2"))]

use std::sync::atomic::{AtomicU64, Ordering};

use plugin_sdk::component as sdk;

static CALLS: AtomicU64 = AtomicU64::new(0);

fn spin(_: ()) -> Result<(), String> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn trap(_: ()) -> Result<(), String> {
    panic!("the guest gives up");
}

fn hoard(mib: usize) -> Result<usize, String> {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mib {
        kept.push(vec![1; 1 << 20]);
    }
    Ok(kept.len())
}

fn huge(mib: usize) -> Result<String, String> {
    Ok("x".repeat(mib << 20))
}

fn count(_: ()) -> Result<u64, String> {
    Ok(CALLS.fetch_add(1, Ordering::SeqCst) + 1)
}

fn fetch(url: String) -> Result<u16, String> {
    let answer = sdk::http_request(&sdk::HttpRequest {
        method: "GET".into(),
        url,
        ..sdk::HttpRequest::default()
    })?;
    Ok(answer.status)
}

fn wasi_fetch(target: String) -> Result<u16, String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let (authority, path) = target.split_once('/').unwrap_or((target.as_str(), ""));
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(&format!("/{path}"))))
        .map_err(|()| "building the request".to_owned())?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(e))) => Err(format!("{e:?}")),
        _ => Err("no response".to_owned()),
    }
}

#[derive(serde::Deserialize)]
struct Post {
    target: String,
    mib: usize,
}

/// POSTs `mib` MiB of zeros through `wasi:http`, streamed 4 KiB at a time.
fn wasi_post(post: Post) -> Result<u16, String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let (authority, path) = post
        .target
        .split_once('/')
        .unwrap_or((post.target.as_str(), ""));
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Post)
        .and_then(|()| request.set_scheme(Some(&Scheme::Http)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(&format!("/{path}"))))
        .map_err(|()| "building the request".to_owned())?;
    let body = request.body().map_err(|()| "no body".to_owned())?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    let mut written = Ok(());
    {
        let stream = body.write().map_err(|()| "no body stream".to_owned())?;
        let chunk = [0u8; 4096];
        for _ in 0..(post.mib << 20) / chunk.len() {
            if let Err(e) = stream.blocking_write_and_flush(&chunk) {
                written = Err(format!("writing the body: {e:?}"));
                break;
            }
        }
    }
    if written.is_ok() {
        OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    }
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(e))) => Err(format!("{e:?}")),
        _ => written.map(|()| 0).map_err(|e| format!("no response; {e}")),
    }
}

#[derive(serde::Deserialize)]
struct FetchAs {
    url: String,
    headers: Vec<(String, String)>,
}

fn fetch_as(ask: FetchAs) -> Result<String, String> {
    let answer = sdk::http_request(&sdk::HttpRequest {
        method: "GET".into(),
        url: ask.url,
        headers: ask.headers.into_iter().collect(),
        ..sdk::HttpRequest::default()
    })?;
    Ok(String::from_utf8_lossy(&answer.body).into_owned())
}

fn wasi_fetch_as(ask: FetchAs) -> Result<String, String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
    let (authority, path) = ask.url.split_once('/').unwrap_or((ask.url.as_str(), ""));
    let entries: Vec<(String, Vec<u8>)> = ask
        .headers
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect();
    let fields = Fields::from_list(&entries).map_err(|e| format!("headers: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    request
        .set_scheme(Some(&Scheme::Http))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(&format!("/{path}"))))
        .map_err(|()| "building the request".to_owned())?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(format!("{e:?}")),
        _ => return Err("no response".to_owned()),
    };
    let body = response.consume().map_err(|()| "no body".to_owned())?;
    let mut text = Vec::new();
    {
        let stream = body.stream().map_err(|()| "no body stream".to_owned())?;
        while let Ok(chunk) = stream.blocking_read(64 * 1024) {
            text.extend_from_slice(&chunk);
        }
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn read(path: String) -> Result<String, String> {
    std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
}

fn connect(address: String) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream =
        std::net::TcpStream::connect(&address).map_err(|e| format!("connect {address}: {e}"))?;
    stream
        .write_all(b"ping\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?;
    Ok(line.trim_end().to_owned())
}

/// Binds `address`, listens and accepts one connection, through raw
/// `wasi:sockets` so each step is its own ask: what a guest granted only
/// connects must never get. Answers how far it got, or fails naming the
/// step refused (`bind: …access-denied…`, `listen: …`).
fn listen(address: String) -> Result<String, String> {
    use wasip2::sockets::instance_network::instance_network;
    use wasip2::sockets::network::{
        ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
    };
    use wasip2::sockets::tcp_create_socket::create_tcp_socket;
    let addr: std::net::SocketAddr = address.parse().map_err(|e| format!("{address}: {e}"))?;
    let (family, local) = match addr {
        std::net::SocketAddr::V4(a) => {
            let [a0, a1, a2, a3] = a.ip().octets();
            (
                IpAddressFamily::Ipv4,
                IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port: a.port(),
                    address: (a0, a1, a2, a3),
                }),
            )
        }
        std::net::SocketAddr::V6(a) => {
            let [s0, s1, s2, s3, s4, s5, s6, s7] = a.ip().segments();
            (
                IpAddressFamily::Ipv6,
                IpSocketAddress::Ipv6(Ipv6SocketAddress {
                    port: a.port(),
                    flow_info: 0,
                    address: (s0, s1, s2, s3, s4, s5, s6, s7),
                    scope_id: 0,
                }),
            )
        }
    };
    let network = instance_network();
    let socket = create_tcp_socket(family).map_err(|e| format!("create: {}", e.name()))?;
    let step = |name: &str, e: ErrorCode| format!("{name}: {}", e.name());
    socket
        .start_bind(&network, local)
        .map_err(|e| step("bind", e))?;
    loop {
        match socket.finish_bind() {
            Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
            done => break done.map_err(|e| step("bind", e))?,
        }
    }
    socket.start_listen().map_err(|e| step("listen", e))?;
    loop {
        match socket.finish_listen() {
            Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
            done => break done.map_err(|e| step("listen", e))?,
        }
    }
    loop {
        match socket.accept() {
            Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
            Err(e) => return Err(step("accept", e)),
            Ok(_) => return Ok("accepted".to_owned()),
        }
    }
}

fn emit(event: plugin_sdk::types::DataEvent) -> Result<(), String> {
    sdk::emit_event(&event)
}

/// Written out rather than by `component_plugin!`, which always answers
/// JSON: `not_json` answers text that is not.
struct Hostile;

impl sdk::bindings::exports::flowbot::plugin::guest::Guest for Hostile {
    fn init(config: String) -> Result<(), String> {
        sdk::init(&config)
    }

    fn is_ready() -> bool {
        sdk::is_ready()
    }

    fn call(function: String, params: String) -> Result<String, sdk::CallError> {
        match function.as_str() {
            "spin" => sdk::call(&params, spin),
            "trap" => sdk::call(&params, trap),
            "hoard" => sdk::call(&params, hoard),
            "huge" => sdk::call(&params, huge),
            "count" => sdk::call(&params, count),
            "fetch" => sdk::call(&params, fetch),
            "wasi_fetch" => sdk::call(&params, wasi_fetch),
            "read" => sdk::call(&params, read),
            "connect" => sdk::call(&params, connect),
            "wasi_post" => sdk::call(&params, wasi_post),
            "fetch_as" => sdk::call(&params, fetch_as),
            "wasi_fetch_as" => sdk::call(&params, wasi_fetch_as),
            "listen" => sdk::call(&params, listen),
            "emit" => sdk::call(&params, emit),
            "not_json" => Ok("{this is not JSON".to_owned()),
            _ => Err(sdk::CallError::Unsupported),
        }
    }
}

sdk::bindings::export_component!(Hostile with_types_in sdk::bindings);
