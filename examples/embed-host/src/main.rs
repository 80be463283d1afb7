//! `embed-host`: a small chat service that embeds the plugin manager, as
//! a host application would. Read it top to bottom; what an embedder does:
//!
//! 1. **Host services.** Plugins call back their host (configuration, logs,
//!    KV, HTTP, events). [`DefaultHost`] gives all of them, kept in a data
//!    folder; implement `HostServices` to replace any part.
//! 2. **Registries.** The manager makes every plugin appear where the host
//!    looks for behaviour: its chat module in [`Registries::modules`], one
//!    invoker per declared ability operation in [`Registries::abilities`],
//!    its webhook/OAuth provider in [`Registries::providers`]. The host
//!    keeps a handle on them and calls plugins through them, never by
//!    runtime (see `routes.rs`). Any implementation of the traits works;
//!    these are the in-memory ones.
//! 3. **Configuration.** The `plugins:` section ([`PluginConfig`]): where
//!    plugins come from (here one local folder of plugin folders, watched
//!    for changes), each plugin's configuration (checked against its
//!    `config_schema`), and what the host grants them.
//! 4. **Runtimes, sources, host functions.** `wasm` and `grpc` are
//!    registered by default. This host adds its own runtime, `builtin`:
//!    plugins written as Rust closures in this binary ([`builtin`]),
//!    loaded, supervised and called exactly like the others; its own
//!    source, which yields their manifests from memory; and its own host
//!    function, `embed.motd`, which any plugin (wasm, process or built-in)
//!    calls by name.
//! 5. **Start**, serve, and on Ctrl-C or SIGTERM stop serving and shut the
//!    manager down (calls in flight finish, processes are stopped).
//!
//! ```sh
//! cargo xtask examples    # builds hello-wasm and hello-grpc into their folders
//! cargo run -p embed-host -- examples/plugins --listen 127.0.0.1:8080
//! curl -s localhost:8080/chat -H 'content-type: application/json' \
//!   -d '{"module":"hello-wasm","text":"hello Ada"}'
//! # {"module":"hello-wasm","reply":{"_type":"TextMsg","text":"Hi, Ada!"}}
//! ```
//!
//! (`examples/plugins` also holds the Python and JavaScript components,
//! which take half a minute each to compile on first start.)

mod builtin;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use plugin_adapter::{InMemoryAbilityRegistry, InMemoryModuleRegistry, InMemoryProviderRegistry};
use plugin_core::HostCallContext;
use plugin_manager::host::DefaultHost;
use plugin_manager::{PluginManager, Registries};
use plugin_types::{PluginConfig, SourceConfig};
use serde_json::{Value, json};

/// Serve chat over HTTP, answered by the plugins in PLUGINS and the
/// built-in ones.
#[derive(Debug, clap::Parser)]
struct Args {
    /// A folder of plugin folders (each with a `plugin.yaml`).
    plugins: PathBuf,
    /// Where to listen (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the host keeps its data (KV store, wasm cache, plugins' data).
    #[arg(long, default_value = "target/embed-host-data")]
    data_dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = clap::Parser::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .init();

    // 1. Host services, in our data folder.
    let host = DefaultHost::open(&args.data_dir)
        .with_context(|| format!("the data folder {}", args.data_dir.display()))?;

    // 2. Our registries: we keep a clone to look plugins up.
    let registries = Registries {
        modules: Arc::new(InMemoryModuleRegistry::modules()),
        abilities: Arc::new(InMemoryAbilityRegistry::abilities()),
        providers: Arc::new(InMemoryProviderRegistry::default()),
    };

    // 3. The `plugins:` section, written in code here (an application
    // would read it from its configuration file, see
    // `plugin_manager::host_config`).
    let mut config = PluginConfig {
        enabled: true,
        sources: vec![SourceConfig::local(args.plugins.clone())],
        ..PluginConfig::default()
    };
    config
        .config
        .insert("hello-wasm".into(), json!({ "greeting": "Hi" }));
    config
        .config
        .insert("hello-grpc".into(), json!({ "greeting": "Howdy" }));

    // 4. The manager, with our registries and our own runtime.
    let manager = PluginManager::builder(config, Arc::new(host))
        .registries(registries.clone())
        .runtime(builtin::RUNTIME, builtin::runtime())
        // Our own host function, offered to every plugin (JSON in and
        // out; the context names the calling plugin, as the host knows it).
        .host_function("embed.motd", async |cx: HostCallContext, _: Value| {
            Ok(json!({ "motd": format!("be kind, {}", cx.plugin()) }))
        })
        // Our own source: the built-in plugins' manifests, from memory.
        .source(Box::new(builtin::Builtins))
        .wasm_cache_dir(args.data_dir.join("wasm-cache"))
        .data_dir(&args.data_dir)
        .build();

    // 5. Start: discover and load the plugins of every source (the
    // folder, then ours). A plugin that fails is listed as `error`; the
    // others serve.
    manager.start().await.context("starting the plugins")?;
    for plugin in manager.list() {
        let error = plugin.last_error.map(|e| format!(": {e}"));
        println!(
            "{} {} {}{}",
            plugin.state,
            plugin.name,
            plugin.runtime,
            error.unwrap_or_default()
        );
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen {}", args.listen))?;
    // Scripts (and the test) wait for this line.
    println!("listening on http://{}", listener.local_addr()?);
    let app = routes::router(routes::App {
        manager: manager.clone(),
        registries,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(interrupted())
        .await?;

    manager.shutdown().await;
    println!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
