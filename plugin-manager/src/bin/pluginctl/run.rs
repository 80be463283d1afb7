//! `pluginctl run DIR [--config FILE] [--listen ADDR|unix:PATH] [--allow-remote] [--data-dir PATH]`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use plugin_core::PluginState;
use plugin_manager::host::DefaultHost;
use plugin_manager::{PluginManager, PluginStatus, admin, host_config};
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

    // stdout: one line per plugin as it comes up (or fails), with the
    // time since the start; then the folders skipped, a summary, and
    // where the API is (scripts wait for it: every plugin found at start
    // is up or failed by then).
    let began = Instant::now();
    let mut stdout = tokio::io::stdout();
    let mut reported = BTreeSet::new();
    let start = manager.start();
    tokio::pin!(start);
    let mut tick = tokio::time::interval(PROGRESS_POLL);
    let started = loop {
        tokio::select! {
            started = &mut start => break started,
            _ = tick.tick() => {
                let lines = newly_up(&manager, began, &mut reported, false);
                write_lines(&mut stdout, &lines).await?;
            }
        }
    };
    started?;
    let mut out = newly_up(&manager, began, &mut reported, true);
    for diagnostic in manager.diagnostics() {
        out.push(format!("skipped {}", diagnostic.message));
    }
    out.push(summary(
        &manager.list(),
        manager.diagnostics().len(),
        began.elapsed(),
    ));
    out.push(where_.trim_end().to_owned());
    write_lines(&mut stdout, &out).await?;

    api.await.context("admin API")?.context("admin API")?;
    tracing::info!("shutting down");
    manager.shutdown().await;
    Ok(())
}

/// How often `run` looks for plugins that came up while it starts them.
const PROGRESS_POLL: Duration = Duration::from_millis(100);

/// A line for each plugin not yet in `reported` that is up or failed (or,
/// with `all`, in any state): `running hello-wasm 0.1.0 wasm (1.2s)`, the
/// time since `began` (for a running plugin, when it started serving),
/// and `: ERROR` after a failed one.
fn newly_up(
    manager: &PluginManager,
    began: Instant,
    reported: &mut BTreeSet<String>,
    all: bool,
) -> Vec<String> {
    let now = began.elapsed();
    let mut lines: Vec<(Duration, String)> = Vec::new();
    for plugin in manager.list() {
        if reported.contains(&plugin.name) || (!all && plugin.state == PluginState::Loading) {
            continue;
        }
        let at = match (plugin.state, plugin.uptime_ms) {
            (PluginState::Running, Some(uptime)) => {
                now.saturating_sub(Duration::from_millis(uptime))
            }
            _ => now,
        };
        lines.push((
            at,
            format!(
                "{} {} {} {} ({}){}",
                plugin.state,
                plugin.name,
                plugin.version,
                plugin.runtime,
                seconds(at),
                plugin
                    .last_error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        ));
        reported.insert(plugin.name);
    }
    // In the order they came up.
    lines.sort_by_key(|(at, _)| *at);
    lines.into_iter().map(|(_, line)| line).collect()
}

/// `6 plugins running, 0 failed, in 16.7s` (and how many folders were
/// skipped, and still loading, when any).
fn summary(plugins: &[PluginStatus], skipped: usize, took: Duration) -> String {
    let count = |state| plugins.iter().filter(|p| p.state == state).count();
    let running = count(PluginState::Running);
    let mut text = format!(
        "{running} plugin{} running, {} failed",
        if running == 1 { "" } else { "s" },
        count(PluginState::Error)
    );
    let loading = count(PluginState::Loading);
    if loading > 0 {
        text.push_str(&format!(", {loading} still loading"));
    }
    if skipped > 0 {
        text.push_str(&format!(", {skipped} skipped"));
    }
    text.push_str(&format!(", in {}", seconds(took)));
    text
}

/// `1.2s`.
fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// Writes `lines` to stdout at once.
async fn write_lines(stdout: &mut tokio::io::Stdout, lines: &[String]) -> anyhow::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = lines.join("\n");
    text.push('\n');
    stdout.write_all(text.as_bytes()).await?;
    stdout.flush().await?;
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
