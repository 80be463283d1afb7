//! `pluginctl`: inspect and run plugins from the command line.

mod call;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Inspect and run plugins of the plugin runtime.
#[derive(Debug, Parser)]
#[command(name = "pluginctl", version, about)]
struct Cli {
    /// Log more to stderr (-v: info, -vv: debug). Plugin output is logged at info.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Validate(validate::Args),
    Call(call::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
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
        Command::Call(args) => call::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
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
