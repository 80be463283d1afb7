//! `pluginctl list DIR...`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use plugin_manager::describe_provides;

/// List the plugins found in folders of plugin folders, in the order a
/// host would load them: name, version, runtime and what each provides,
/// then the folders that could not be used, and why.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Folders of plugin folders (or single plugin folders).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
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
                    plugin.dir.display(),
                    manifest.name,
                    first.display()
                ));
                continue;
            }
            seen.insert(manifest.name.clone(), plugin.dir.clone());
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
    for row in &rows {
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
    }
    for problem in &problems {
        println!("{problem}");
    }
    Ok(ExitCode::SUCCESS)
}
