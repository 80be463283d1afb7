//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the fuzz targets in
//! `fuzz/` (cargo-fuzz, libFuzzer, nightly) for N seconds each (default 20),
//! from their checked-in seed corpus, and fails naming the target and the
//! crash artifact if one crashes. FUZZING.md lists the targets.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// Every target, in the order they run.
pub(crate) const TARGETS: [&str; 6] = [
    "manifest",
    "host_config",
    "address_rules",
    "handshake",
    "envelope",
    "log_lines",
];

/// The fuzz crate's features that build every target (wasmtime, tonic).
const FEATURES: &str = "wasm,grpc";

/// The options of `cargo xtask fuzz`.
#[derive(Debug)]
pub(crate) struct Options {
    seconds: u64,
    targets: Vec<String>,
}

impl Options {
    /// Parses `[--seconds N] [TARGET...]`.
    pub(crate) fn parse(args: &[&str]) -> Result<Self> {
        let mut seconds = 20;
        let mut targets = Vec::new();
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            match arg {
                "--seconds" => {
                    let value = args.next().context("--seconds needs a number")?;
                    seconds = value
                        .parse()
                        .with_context(|| format!("--seconds {value:?}: not a number"))?;
                }
                target if TARGETS.contains(&target) => targets.push(target.to_owned()),
                other => bail!(
                    "unknown fuzz target {other:?} (targets: {})",
                    TARGETS.join(", ")
                ),
            }
        }
        if targets.is_empty() {
            targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
        }
        Ok(Self { seconds, targets })
    }
}

/// Builds the targets, then runs each for the given time.
pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    let nightly = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(root)
        .output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        bail!(
            "cargo-fuzz on a nightly toolchain is needed: \
             `rustup toolchain install nightly` and `cargo install cargo-fuzz --locked`"
        );
    }
    let status = Command::new("cargo")
        .args(["+nightly", "fuzz", "build", "--features", FEATURES])
        .current_dir(root)
        .status()
        .context("running cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed ({status})");
    }
    let mut crashed = Vec::new();
    for target in &options.targets {
        let artifacts = root.join("fuzz/artifacts").join(target);
        let before = files(&artifacts);
        let corpus = root.join("fuzz/corpus").join(target);
        eprintln!("fuzz: {target} for {} s", options.seconds);
        let status = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", "--features", FEATURES, target])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={}", options.seconds))
            .current_dir(root)
            .status()
            .with_context(|| format!("running cargo fuzz run {target}"))?;
        if !status.success() {
            let new: Vec<String> = files(&artifacts)
                .difference(&before)
                .map(|f| artifacts.join(f).display().to_string())
                .collect();
            let found = if new.is_empty() {
                format!("no artifact in {}", artifacts.display())
            } else {
                new.join(", ")
            };
            crashed.push(format!("{target} ({status}): {found}"));
        }
    }
    if !crashed.is_empty() {
        bail!("fuzz targets crashed:\n  {}", crashed.join("\n  "));
    }
    Ok(())
}

/// The names of the files in `dir` (none if it does not exist).
fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
