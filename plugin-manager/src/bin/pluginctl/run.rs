//! `pluginctl run DIR [--config FILE] [--listen ADDR|unix:PATH] [--allow-remote] [--data-dir PATH]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use plugin_manager::host::DefaultHost;
use plugin_manager::{PluginManager, admin, host_config};
use plugin_types::{PluginConfig, SourceConfig};
use tokio::io::AsyncWriteExt as _;

/// Run the plugin host: load every plugin in DIR (and the config's other
/// sources), reload them when they change, restart crashed ones, log
/// lifecycle and events, and serve the admin HTTP API (bearer token from
/// DATA_DIR/admin-token) until interrupted (Ctrl-C or SIGTERM), then stop
/// them gracefully.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The folder of plugin folders; the first source.
    dir: PathBuf,
    /// A host configuration file (YAML or JSON): the `plugins:` section
    /// shape, or a flowbot-style file with a top-level `plugins:` section.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the admin API listens: a loopback address (port 0 picks one),
    /// or `unix:PATH` for a unix socket created with mode 0600.
    #[arg(long, value_name = "ADDR|unix:PATH", default_value = "127.0.0.1:7890", value_parser = parse_listen)]
    listen: Listen,
    /// Allow --listen on an address other than loopback (the token is still
    /// required; use TLS in front of it).
    #[arg(long)]
    allow_remote: bool,
    /// Where the host keeps its data (the KV store, the wasm cache, the
    /// admin token, plugins' data folders).
    #[arg(long, value_name = "PATH")]
    data_dir: Option<PathBuf>,
}

/// Where the admin API listens.
#[derive(Debug, Clone)]
enum Listen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

fn parse_listen(text: &str) -> Result<Listen, String> {
    match text.strip_prefix("unix:") {
        Some("") => Err("unix: needs a socket path, as in unix:/run/pluginctl.sock".into()),
        Some(path) => Ok(Listen::Unix(PathBuf::from(path))),
        None => text.parse().map(Listen::Tcp).map_err(|e| {
            format!("{text:?} is not an address like 127.0.0.1:7890 or unix:PATH ({e})")
        }),
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Listen::Tcp(addr) = &args.listen {
        admin::check_listen(*addr, args.allow_remote).map_err(anyhow::Error::msg)?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the admin API is served on a non-loopback address: anyone who can reach it and holds the token controls every plugin");
        }
    }
    let mut config = match &args.config {
        Some(path) => host_config::read(path)?,
        None => PluginConfig::default(),
    };
    config.enabled = true;
    config
        .sources
        .insert(0, SourceConfig::local(args.dir.clone()));
    let data_dir = crate::data_dir(args.data_dir.clone());
    crate::runtime()?.block_on(serve(config, &args.listen, data_dir))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: PluginConfig, listen: &Listen, data_dir: PathBuf) -> anyhow::Result<()> {
    // `plugins.kv` picks the KV backend: redb in the data folder, or Redis.
    let host = DefaultHost::open_with(&data_dir, &config.kv).await?;
    tracing::info!(backend = %host.kv().describe(), "plugins' KV store");
    let (token, token_file) = admin::load_or_create_token(&data_dir)
        .with_context(|| format!("the admin token in {}", data_dir.display()))?;
    tracing::info!(file = %token_file.display(), "admin API token (send it as Authorization: Bearer <token>)");
    let events = host.events().clone();
    let manager = PluginManager::builder(config, Arc::new(host))
        .wasm_cache_dir(data_dir.join("wasm-cache"))
        .data_dir(&data_dir)
        .build();

    let mut log_events = events.subscribe();
    tokio::spawn(async move {
        while let Ok(emitted) = log_events.recv().await {
            tracing::info!(plugin = %emitted.plugin, event_type = %emitted.event.event_type, data = ?emitted.event.data, "event");
        }
    });

    // The API is bound and served first: no plugin's load delays it (a
    // plugin still loading is listed as `loading`).
    let listener = match listen {
        Listen::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--listen {addr}"))?;
            let addr = listener.local_addr()?;
            Listener::Tcp(listener, addr)
        }
        Listen::Unix(path) => Listener::Unix(bind_unix(path)?, path.clone()),
    };
    let where_ = match &listener {
        Listener::Tcp(_, addr) => format!("admin API on http://{addr}\n"),
        Listener::Unix(_, path) => format!("admin API on unix:{}\n", path.display()),
    };
    let closing = tokio_util::sync::CancellationToken::new();
    let stop = {
        let closing = closing.clone();
        async move {
            interrupted().await;
            closing.cancel();
        }
    };
    let api = match listener {
        Listener::Tcp(listener, addr) => {
            let access = admin::Access::tcp(token, addr);
            let router = admin::router(manager.clone(), events, closing, access);
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await
            })
        }
        Listener::Unix(listener, path) => {
            let router =
                admin::router(manager.clone(), events, closing, admin::Access::unix(token));
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await;
                let _ = std::fs::remove_file(&path);
                served
            })
        }
    };

    manager.start().await?;
    // stdout: one line per plugin, then where the API is (scripts wait for
    // it: every plugin found at start is up or failed by then).
    let mut out = String::new();
    for plugin in manager.list() {
        out.push_str(&format!(
            "{} {} {} {}{}\n",
            plugin.state,
            plugin.name,
            plugin.version,
            plugin.runtime,
            plugin
                .last_error
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    for diagnostic in manager.diagnostics() {
        out.push_str(&format!("skipped {}\n", diagnostic.message));
    }
    out.push_str(&where_);
    let mut stdout = tokio::io::stdout();
    stdout.write_all(out.as_bytes()).await?;
    stdout.flush().await?;

    api.await.context("admin API")?.context("admin API")?;
    tracing::info!("shutting down");
    manager.shutdown().await;
    Ok(())
}

/// A bound admin API listener.
enum Listener {
    Tcp(tokio::net::TcpListener, SocketAddr),
    Unix(tokio::net::UnixListener, PathBuf),
}

/// Binds a unix socket and makes it its owner's alone (mode 0600). The
/// token is required on it too, so the moment between the two gives nobody
/// a way in.
fn bind_unix(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let context = || format!("--listen unix:{}", path.display());
    // A socket left by a host that died is replaced; any other file is not.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            anyhow::bail!("{}: exists and is not a socket", context());
        }
        std::fs::remove_file(path).with_context(context)?;
    }
    let listener = tokio::net::UnixListener::bind(path).with_context(context)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).with_context(context)?;
    Ok(listener)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
