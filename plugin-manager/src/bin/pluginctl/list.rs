//! `pluginctl list DIR...`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use plugin_manager::describe_provides;

/// List the plugins found in folders of plugin folders, in the order a
/// host would load them: name, version, runtime and what each provides,
/// each followed by what the host grants it (or why it would refuse it)
/// and, for process plugins, the confinement this machine's kernel would
/// hold it to,
/// then the folders that could not be used, and why.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Folders of plugin folders (or single plugin folders).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// The host configuration whose `permissions` grant (default: none,
    /// the default policy).
    #[arg(long, value_name = "FILE")]
    host_config: Option<PathBuf>,
    /// The host's data folder (as for `run`).
    #[arg(long, value_name = "PATH")]
    data_dir: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let grants = crate::host_grants(args.host_config.as_deref(), args.data_dir.clone())?;
    let mut granted: Vec<(String, Vec<String>)> = Vec::new();
    let mut rows = vec![[
        "NAME".to_owned(),
        "VERSION".to_owned(),
        "RUNTIME".to_owned(),
        "PROVIDES".to_owned(),
    ]];
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in &args.dirs {
        let found = plugin_source::scan(dir)?;
        for plugin in found.plugins {
            let manifest = &plugin.manifest;
            if let Some(first) = seen.get(&manifest.name) {
                problems.push(format!(
                    "duplicate {}: plugin {} is already provided by {}",
                    plugin.location.display(),
                    manifest.name,
                    first.display()
                ));
                continue;
            }
            seen.insert(manifest.name.clone(), plugin.location.clone());
            granted.push((
                manifest.name.clone(),
                match grants.check(manifest) {
                    Ok(g) => {
                        let mut lines: Vec<String> = g
                            .describe(manifest)
                            .into_iter()
                            .map(|l| format!("grants {l}"))
                            .collect();
                        // What this machine's kernel would hold its process to.
                        if manifest.grpc.is_some() {
                            let report = plugin_grpc::confinement_preview(&g);
                            lines.extend(report.measures.iter().map(|m| format!("confined {m}")));
                        }
                        lines
                    }
                    Err(e) => vec![format!("refused: permission denied: {e}")],
                },
            ));
            rows.push([
                manifest.name.clone(),
                if manifest.version.is_empty() {
                    "-".to_owned()
                } else {
                    manifest.version.clone()
                },
                manifest.runtime.to_string(),
                describe_provides(&manifest.provides).join(", "),
            ]);
        }
        for diagnostic in found.diagnostics {
            problems.push(format!("broken {}", diagnostic.error));
        }
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        // Row 0 is the header; row i is plugin i - 1.
        if let Some((_, lines)) = i.checked_sub(1).and_then(|i| granted.get(i)) {
            for line in lines {
                println!("  {line}");
            }
        }
    }
    for problem in &problems {
        println!("{problem}");
    }
    Ok(ExitCode::SUCCESS)
}
