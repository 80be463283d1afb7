//! `pluginctl`: inspect and run plugins from the command line.

mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inspect and run plugins of the plugin runtime.
#[derive(Debug, Parser)]
#[command(name = "pluginctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Validate(validate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Validate(args) => validate::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
