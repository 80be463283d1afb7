//! `pluginctl`: inspect, call and run plugins from the command line.

mod call;
mod list;
mod run;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Inspect, call and run plugins of the plugin runtime.
#[derive(Debug, Parser)]
#[command(name = "pluginctl", version, about)]
struct Cli {
    /// Log more to stderr (-v: info, -vv: debug). `run` logs at info anyway.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Validate(validate::Args),
    List(list::Args),
    Call(call::Args),
    Run(run::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = match cli.command {
        Command::Run(_) => cli.verbose.max(1),
        _ => cli.verbose,
    };
    let level = match verbose {
        0 => tracing_subscriber::filter::LevelFilter::WARN,
        1 => tracing_subscriber::filter::LevelFilter::INFO,
        _ => tracing_subscriber::filter::LevelFilter::DEBUG,
    };
    // Logs go to stderr: stdout carries results only.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_max_level(level)
        .init();
    let outcome = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::List(args) => list::run(&args),
        Command::Call(args) => call::run(&args),
        Command::Run(args) => run::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The async runtime the commands run on.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `--data-dir`, else `$XDG_DATA_HOME/pluginctl`, else
/// `~/.local/share/pluginctl`, else `.pluginctl`.
fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    arg.or_else(|| non_empty("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("pluginctl")))
        .or_else(|| non_empty("HOME").map(|d| PathBuf::from(d).join(".local/share/pluginctl")))
        .unwrap_or_else(|| PathBuf::from(".pluginctl"))
}

/// What a host with the configuration `host_config` (its `permissions`)
/// and the data folder `data_dir` grants, as `run` would.
fn host_grants(
    host_config: Option<&std::path::Path>,
    dir: Option<PathBuf>,
) -> anyhow::Result<plugin_core::HostGrants> {
    let policy = match host_config {
        Some(path) => plugin_manager::host_config::read(path)?.permissions,
        None => Default::default(),
    };
    Ok(host_grants_of(policy, dir))
}

/// What a host with `policy` and the data folder `dir` grants.
fn host_grants_of(
    policy: plugin_types::PermissionPolicy,
    dir: Option<PathBuf>,
) -> plugin_core::HostGrants {
    plugin_core::HostGrants::new(policy).with_data_dir(data_dir(dir))
}

/// The error and its causes on one line. The libraries' messages already
/// quote their causes, so a cause whose text is already there is skipped.
fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}
