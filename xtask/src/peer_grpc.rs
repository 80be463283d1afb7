//! `cargo xtask peer-grpc`: our gRPC runner against go-plugin's own Go host,
//! side by side in one run (issue 15).
//!
//! Both hosts call the same Go plugin (`plugin-grpc/tests/go/goplugin`, on
//! go-plugin's `Serve`) over a unix socket: ours is `plugin-grpc`'s
//! `grpc_peer_host` example (`GrpcRunner` on tokio's multi-thread runtime), theirs
//! is `plugin-grpc/tests/go/gobench` (go-plugin's `NewClient`/`Dispense`).
//! Each is one long-lived process speaking the line protocol in
//! `gobench/main.go`; every round asks ours, then theirs, for each measure,
//! so both see the same machine. Prints every round, then per measure the
//! medians and the median of the per-round ratios ours ÷ go-plugin.

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context as _, Result, bail};

/// What the run measures (counts per round).
pub(crate) struct Options {
    rounds: usize,
    calls: usize,
    par: usize,
    spawns: usize,
}

impl Options {
    /// `--rounds R --calls N --par N --spawns K`, each optional.
    pub(crate) fn parse(args: &[&str]) -> Result<Self> {
        let mut options = Self {
            rounds: 5,
            calls: 10_000,
            par: 2_500,
            spawns: 5,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value: usize = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?
                .parse()
                .with_context(|| format!("{flag} takes a count"))?;
            match *flag {
                "--rounds" => options.rounds = value,
                "--calls" => options.calls = value,
                "--par" => options.par = value,
                "--spawns" => options.spawns = value,
                other => bail!("unknown option {other}"),
            }
        }
        if options.rounds == 0 || options.calls < 100 || options.par == 0 || options.spawns == 0 {
            bail!("--rounds, --par and --spawns must be at least 1, --calls at least 100");
        }
        Ok(options)
    }
}

/// One host process.
struct Host {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Host {
    fn start(name: &'static str, program: &Path, plugin: &Path, proto: &Path) -> Result<Self> {
        let mut child = Command::new(program)
            .arg(plugin)
            .env("FLOWBOT_PLUGIN_PROTO", proto)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("{name}: no pipes");
        };
        let mut host = Self {
            name,
            child,
            stdin,
            stdout: BufReader::new(stdout),
        };
        let ready = host.line()?;
        if !ready.starts_with("ready ") {
            bail!("{name} said {ready:?} instead of `ready`");
        }
        println!("# {name}: {ready} µs");
        Ok(host)
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("{} exited (see its stderr above)", self.name);
        }
        Ok(line.trim().to_owned())
    }

    /// Sends `command`, returns the numbers it answers.
    fn ask(&mut self, command: &str) -> Result<Vec<f64>> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let line = self.line()?;
        line.split_whitespace()
            .map(|v| {
                v.parse()
                    .with_context(|| format!("{}: {line:?} is not numbers", self.name))
            })
            .collect()
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Builds both hosts and the plugin, then runs the rounds.
pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    let go_dir = root.join("plugin-grpc/tests/go");
    let out = root.join("target/go-interop");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(format!("{}/", out.display()))
        .arg("./...")
        .current_dir(&go_dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly")
        .status()
        .context("running go (Go 1.26 from https://go.dev/dl or Debian's golang)")?;
    if !status.success() {
        bail!("go build in {} failed", go_dir.display());
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "plugin-grpc",
            "--example",
            "grpc_peer_host",
        ])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("building the grpc_peer_host example failed");
    }
    let proto = root.join("proto/plugin.proto");
    let plugin = out.join("goplugin");
    let mut hosts = [
        Host::start(
            "ours",
            &root.join("target/release/examples/grpc_peer_host"),
            &plugin,
            &proto,
        )?,
        Host::start("go-plugin", &out.join("gobench"), &plugin, &proto)?,
    ];
    // (name, command, how a round's answer becomes one figure, unit): for
    // times, a ratio below 1 means we are faster; for calls/s, above 1.
    type Pick = fn(&mut Vec<f64>) -> f64;
    let measures: [(&str, String, Pick, &str); 5] = [
        (
            "call p50",
            format!("call {}", options.calls),
            |v| v[0] / 1e3,
            "µs",
        ),
        (
            "call p99",
            format!("call {}", options.calls),
            |v| v[1] / 1e3,
            "µs",
        ),
        (
            "4 callers",
            format!("par4 {}", options.par),
            |v| v[0],
            "calls/s",
        ),
        (
            "spawn to first answer",
            format!("spawn {}", options.spawns),
            |v| median(v) / 1e3,
            "ms",
        ),
        // Ours with confinement off (go-plugin confines nothing): `spawnu`
        // to ours, `spawn` to theirs.
        (
            "spawn, ours unconfined",
            format!("spawnu {}", options.spawns),
            |v| median(v) / 1e3,
            "ms",
        ),
    ];
    // figures[measure][host] over rounds; p50 and p99 come from one `call`.
    let mut figures = vec![[Vec::new(), Vec::new()]; measures.len()];
    for round in 1..=options.rounds {
        let mut line = format!("# round {round}:");
        for (m, (name, command, pick, unit)) in measures.iter().enumerate() {
            if m == 1 {
                continue; // answered with p50
            }
            for (h, host) in hosts.iter_mut().enumerate() {
                let command = match (h, command.strip_prefix("spawnu ")) {
                    (1, Some(count)) => format!("spawn {count}"),
                    _ => command.clone(),
                };
                let mut answer = host.ask(&command)?;
                if m == 0 {
                    figures[1][h].push(measures[1].2(&mut answer));
                }
                figures[m][h].push(pick(&mut answer));
            }
            line += &format!(
                " {name} {:.1}/{:.1} {unit};",
                figures[m][0][round - 1],
                figures[m][1][round - 1]
            );
        }
        println!("{line}");
    }
    println!(
        "\n{} rounds; {} sequential calls, 4 × {} concurrent calls, {} spawns a round\n",
        options.rounds, options.calls, options.par, options.spawns
    );
    println!(
        "| measure | ours (median) | go-plugin (median) | ours ÷ go-plugin, median of rounds (min–max) |"
    );
    println!("| --- | --- | --- | --- |");
    for (m, (name, _, _, unit)) in measures.iter().enumerate() {
        let [ours, theirs] = &figures[m];
        let mut ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| o / t).collect();
        let (low, high) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
        println!(
            "| {name} | {:.1} {unit} | {:.1} {unit} | {:.2} ({low:.2}–{high:.2}) |",
            median(&mut ours.clone()),
            median(&mut theirs.clone()),
            median(&mut ratios)
        );
    }
    for host in hosts {
        let Host {
            mut child, stdin, ..
        } = host;
        drop(stdin);
        child.wait()?;
    }
    Ok(())
}
