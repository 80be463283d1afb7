//! `pluginctl call PLUGIN_DIR FUNCTION [PARAMS_JSON] [--config JSON|@FILE] [--host-config FILE] [--data-dir PATH]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use plugin_core::{Manifest, yaml};
use plugin_manager::PluginManager;
use plugin_manager::host::DefaultHost;
use plugin_types::PluginConfig;
use serde_json::Value;
use serde_json::value::RawValue;

/// Load one plugin through the manager, start it with a configuration, call
/// one function and print its JSON result. Host services are the default
/// ones: the KV store in the data folder persists between calls.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plugin folder (holding plugin.yaml) or its manifest file.
    plugin: PathBuf,
    /// The function to call.
    function: String,
    /// The params, as JSON (default: null).
    params: Option<String>,
    /// The plugin's configuration: JSON text, or @FILE for a JSON or YAML
    /// file (default: {}). Checked against the plugin's config_schema.
    #[arg(long, value_name = "JSON|@FILE")]
    config: Option<String>,
    /// The host configuration whose `permissions` grant, as for `run`,
    /// `validate` and `list` (default: none, the default policy). Its
    /// `plugins.config` entry for the plugin is the default for --config.
    #[arg(long, value_name = "FILE")]
    host_config: Option<PathBuf>,
    /// Where the host keeps its data (the KV store).
    #[arg(long, value_name = "PATH")]
    data_dir: Option<PathBuf>,
}

/// How long `stop` lets the call's instance (or process) wind down.
const STOP_DRAIN: Duration = Duration::from_secs(5);

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::from_file(&args.plugin)?;
    let settings = match &args.host_config {
        Some(path) => plugin_manager::host_config::read(path)?,
        None => PluginConfig::default(),
    };
    let config = match (&args.config, settings.config.get(&manifest.name)) {
        (None, Some(config)) => config.clone(),
        (config, _) => read_config(config.as_deref())?,
    };
    let params_text = args.params.clone().unwrap_or_else(|| "null".into());
    let params = RawValue::from_string(params_text).context("PARAMS_JSON is not valid JSON")?;
    let data_dir = crate::data_dir(args.data_dir.clone());

    let runtime = crate::runtime()?;
    let result = runtime.block_on(async {
        let host = DefaultHost::open(&data_dir)?;
        // The host configuration's permissions and settings; only this
        // plugin, from this folder.
        let plugins = PluginConfig {
            enabled: true,
            hot_reload: false,
            drain_timeout: STOP_DRAIN,
            sources: Vec::new(),
            config: [(manifest.name.clone(), config)].into(),
            ..settings
        };
        let manager = PluginManager::builder(plugins, Arc::new(host))
            .health_interval(Duration::ZERO)
            .data_dir(&data_dir)
            .build();
        let result = match manager.load_dir(&args.plugin).await {
            Ok(_) => manager
                .call(&manifest.name, &args.function, &params)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        };
        manager.shutdown().await;
        result
    })?;
    println!("{}", result.get());
    Ok(ExitCode::SUCCESS)
}

fn read_config(arg: Option<&str>) -> anyhow::Result<Value> {
    match arg {
        None => Ok(Value::Object(Default::default())),
        Some(text) => match text.strip_prefix('@') {
            Some(path) => {
                yaml::read_value(path.as_ref()).with_context(|| format!("--config @{path}"))
            }
            None => serde_json::from_str(text).context("--config is not valid JSON"),
        },
    }
}
