//! `pluginctl call PLUGIN_DIR FUNCTION [PARAMS_JSON] [--config JSON|@FILE]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use plugin_core::{Manifest, MemoryHost, Runner, RuntimeKind, yaml};
use plugin_grpc::GrpcRunner;
use plugin_wasm::WasmRunner;
use serde_json::Value;
use serde_json::value::RawValue;

/// Load one plugin, start it with a configuration, call one function and
/// print its JSON result. Host services are in memory (config, KV, events)
/// for the duration of the call.
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
}

/// How long `stop` lets the call's instance (or process) wind down.
const STOP_DRAIN: Duration = Duration::from_secs(5);

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::from_file(&args.plugin)?;
    let config = read_config(args.config.as_deref())?;
    manifest.validate_config(&config)?;
    let params_text = args.params.clone().unwrap_or_else(|| "null".into());
    let params = RawValue::from_string(params_text).context("PARAMS_JSON is not valid JSON")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        let host = Arc::new(MemoryHost::new(&manifest.name, config.clone()));
        let runner: Box<dyn Runner> = match manifest.runtime {
            RuntimeKind::Wasm => Box::new(WasmRunner::new(host)),
            RuntimeKind::Grpc => Box::new(GrpcRunner::new(host)),
        };
        runner.load(&manifest).await?;
        runner.start(&config).await?;
        let result = runner.call(&args.function, &params).await;
        runner.stop(STOP_DRAIN).await?;
        anyhow::Ok(result?)
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
