//! `pluginctl validate PATH... [--config FILE | --host-config FILE] [--data-dir PATH]`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use plugin_core::{MANIFEST_FILE_NAME, yaml};
use plugin_manager::host_config;
use plugin_types::PluginConfig;
use serde_json::Value;

/// Check plugin manifests (and optionally a configuration against their
/// config_schema). Prints `ok <name> <version> <runtime>` per valid plugin and
/// `error <file>: ...` per problem; exits 1 if anything is invalid.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Plugin folders, manifest files, or folders of plugin folders.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// A JSON or YAML file whose value is checked against each plugin's
    /// config_schema; or a flowbot-style host configuration (a top-level
    /// `plugins:` section), whose `plugins.config.<name>` is checked against
    /// that plugin's schema and whose `plugins.permissions` grant, as with
    /// --host-config.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// A host configuration: each plugin's manifest is checked against its
    /// `permissions` (what the manifest asks must be granted), and what it
    /// gets is printed. Without it, the default policy applies.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    host_config: Option<PathBuf>,

    /// The host's data folder (as for `run`).
    #[arg(long, value_name = "PATH")]
    data_dir: Option<PathBuf>,
}

/// What `--config` holds.
enum Config {
    /// One configuration, checked against every plugin's schema.
    Plugin(Value),
    /// A host configuration: each plugin's own entry is checked.
    Host(Box<PluginConfig>),
}

impl Config {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let value =
            yaml::read_value(path).with_context(|| format!("--config {}", path.display()))?;
        if value.get("plugins").is_some_and(Value::is_object) {
            Ok(Self::Host(Box::new(host_config::read(path)?)))
        } else {
            Ok(Self::Plugin(value))
        }
    }

    /// The configuration `plugin` is checked with.
    fn for_plugin(&self, plugin: &str) -> Value {
        match self {
            Self::Plugin(value) => value.clone(),
            Self::Host(host) => host
                .config
                .get(plugin)
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
        }
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let config = args.config.as_deref().map(Config::read).transpose()?;
    let grants = match &config {
        Some(Config::Host(host)) => {
            crate::host_grants_of(host.permissions.clone(), args.data_dir.clone())
        }
        _ => crate::host_grants(args.host_config.as_deref(), args.data_dir.clone())?,
    };
    let mut lines: Vec<(PathBuf, String)> = Vec::new();
    let mut failed = false;
    for path in &args.paths {
        let found = match plugin_source::scan(path) {
            Ok(found) => found,
            Err(e) => {
                failed = true;
                lines.push((path.clone(), format!("error {e}")));
                continue;
            }
        };
        for plugin in found.plugins {
            let manifest = &plugin.manifest;
            let file = plugin.location.join(MANIFEST_FILE_NAME);
            let granted = grants.check(manifest);
            let line = match (
                known_runtime(&manifest.runtime),
                config
                    .as_ref()
                    .map(|c| manifest.validate_config(&c.for_plugin(&manifest.name))),
                granted,
            ) {
                (Err(e), _, _) => {
                    failed = true;
                    format!("error {}: {e}", display(&file))
                }
                (_, Some(Err(e)), _) => {
                    failed = true;
                    format!("error {}: {e}", display(&file))
                }
                (_, _, Err(e)) => {
                    failed = true;
                    format!("error {}: permission denied: {e}", display(&file))
                }
                (_, _, Ok(granted)) => {
                    let mut line = format!(
                        "ok {} {} {}",
                        manifest.name,
                        if manifest.version.is_empty() {
                            "-"
                        } else {
                            &manifest.version
                        },
                        manifest.runtime
                    );
                    for grant in granted.describe(manifest) {
                        line.push_str("\n  grants ");
                        line.push_str(&grant);
                    }
                    line
                }
            };
            lines.push((file, line));
        }
        for diagnostic in found.diagnostics {
            failed = true;
            lines.push((diagnostic.location, format!("error {}", diagnostic.error)));
        }
    }
    lines.sort();
    for (_, line) in lines {
        println!("{line}");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `Ok` for a runtime `pluginctl run` registers; otherwise why not (an
/// embedding host may register it).
fn known_runtime(runtime: &str) -> Result<(), String> {
    const RUNS: [&str; 2] = [plugin_core::GRPC_RUNTIME, plugin_core::WASM_RUNTIME];
    if RUNS.contains(&runtime) {
        return Ok(());
    }
    Err(format!(
        "runtime: {runtime:?} is not registered with pluginctl (registered: {}); \
         only a host that registers it can load this plugin",
        RUNS.join(", ")
    ))
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
