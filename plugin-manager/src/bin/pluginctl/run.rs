//! `pluginctl run DIR [--config FILE] [--listen ADDR] [--data-dir PATH]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use plugin_manager::host::DefaultHost;
use plugin_manager::{PluginManager, admin, host_config};
use plugin_types::{PluginConfig, SourceConfig};
use tokio::io::AsyncWriteExt as _;

/// Run the plugin host: load every plugin in DIR (and the config's other
/// sources), reload them when they change, restart crashed ones, log
/// lifecycle and events, and serve the admin HTTP API on loopback until
/// interrupted (Ctrl-C or SIGTERM), then stop them gracefully.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The folder of plugin folders; the first source.
    dir: PathBuf,
    /// A host configuration file (YAML or JSON): the `plugins:` section
    /// shape, or a flowbot-style file with a top-level `plugins:` section.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the admin API listens (loopback only; port 0 picks one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7890")]
    listen: SocketAddr,
    /// Where the host keeps its data (the KV store, the wasm cache).
    #[arg(long, value_name = "PATH")]
    data_dir: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    admin::check_loopback(args.listen).map_err(anyhow::Error::msg)?;
    let mut config = match &args.config {
        Some(path) => host_config::read(path)?,
        None => PluginConfig::default(),
    };
    config.enabled = true;
    config.sources.insert(
        0,
        SourceConfig {
            kind: "local".into(),
            path: Some(args.dir.clone()),
            ..SourceConfig::default()
        },
    );
    let data_dir = crate::data_dir(args.data_dir.clone());
    crate::runtime()?.block_on(serve(config, args.listen, data_dir))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: PluginConfig, listen: SocketAddr, data_dir: PathBuf) -> anyhow::Result<()> {
    let host = DefaultHost::open(&data_dir)?;
    let events = host.events().clone();
    let manager = PluginManager::builder(config, Arc::new(host))
        .wasm_cache_dir(data_dir.join("wasm-cache"))
        .build();

    let mut log_events = events.subscribe();
    tokio::spawn(async move {
        while let Ok(emitted) = log_events.recv().await {
            tracing::info!(plugin = %emitted.plugin, event_type = %emitted.event.event_type, data = ?emitted.event.data, "event");
        }
    });

    manager.start().await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("--listen {listen}"))?;
    let addr = listener.local_addr()?;

    // stdout: one line per plugin, then where the API is (scripts wait for it).
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
    out.push_str(&format!("admin API on http://{addr}\n"));
    let mut stdout = tokio::io::stdout();
    stdout.write_all(out.as_bytes()).await?;
    stdout.flush().await?;

    let closing = tokio_util::sync::CancellationToken::new();
    let router = admin::router(manager.clone(), events, closing.clone());
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            interrupted().await;
            closing.cancel();
        })
        .await
        .context("admin API")?;
    tracing::info!("shutting down");
    manager.shutdown().await;
    Ok(())
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
