//! Developer tasks for this workspace, run as `cargo xtask <task>`.
//!
//! - `codegen`: regenerates the checked-in Rust code of `proto/` from its
//!   `.proto` files, with the `protoc` shipped by `protoc-bin-vendored` (no
//!   system `protoc` needed).
//! - `codegen --check`: regenerates into a scratch folder and fails if the
//!   checked-in code differs (CI runs this).
//! - `examples`: builds the wasm guests (the example plugins and the test
//!   guests) for `wasm32-wasip1`, the component guests for `wasm32-wasip2`
//!   (adding the targets with rustup if they are missing), and the gRPC
//!   plugin binaries for the host; installs each example's module or binary
//!   into its plugin folder; builds the Python and JavaScript component
//!   examples with componentize-py and componentize-js (pinned, installed
//!   from PyPI and npm into `target/` on first use) when their sources are
//!   newer;
//!   and prints the output folders as
//!   `wasm32-wasip1=DIR`, `wasm32-wasip2=DIR` and `host=DIR`.
//! - `demo [ARGS...]`: `examples` and pluginctl, with cargo's progress
//!   shown, then `pluginctl run examples/plugins` (data in
//!   `target/demo-data`, admin API on 127.0.0.1:7890), passing ARGS on to
//!   `pluginctl run`; prints what to try once the admin API answers.
//! - `peer-grpc [--rounds R --calls N --par N --spawns K]`: our gRPC runner
//!   against go-plugin's own Go host, calling the same Go plugin, round by
//!   round (see `peer_grpc.rs`).
//! - `fuzz [--seconds N] [TARGET...]`: runs the fuzz targets in `fuzz/`
//!   (nightly cargo-fuzz) N seconds each, default 20; fails naming a target
//!   that crashed and its artifact (see `fuzz.rs` and FUZZING.md).

mod fuzz;
mod peer_grpc;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

const USAGE: &str = "usage: cargo xtask codegen [--check] | cargo xtask examples | cargo xtask demo [ARGS...] | cargo xtask peer-grpc [--rounds R --calls N --par N --spawns K] | cargo xtask fuzz [--seconds N] [TARGET...]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["codegen"] => codegen(false),
        ["codegen", "--check"] => codegen(true),
        ["examples"] => examples(Progress::Quiet),
        ["demo", rest @ ..] => demo(rest),
        ["peer-grpc", rest @ ..] => {
            peer_grpc::Options::parse(rest).and_then(|o| peer_grpc::run(&workspace_root(), &o))
        }
        ["fuzz", rest @ ..] => {
            fuzz::Options::parse(rest).and_then(|o| fuzz::run(&workspace_root(), &o))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `.proto` files compiled into the `proto` crate, relative to `proto/`.
const PROTOS: [&str; 4] = [
    "plugin.proto",
    "go-plugin/grpc_broker.proto",
    "go-plugin/grpc_controller.proto",
    "go-plugin/grpc_stdio.proto",
];

fn codegen(check: bool) -> Result<()> {
    let proto_dir = workspace_root().join("proto");
    let checked_in = proto_dir.join("src/gen");
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    generate(&proto_dir, scratch.path())?;

    let fresh = read_dir_files(scratch.path())?;
    let current = read_dir_files(&checked_in).unwrap_or_default();
    if check {
        if fresh != current {
            let stale: BTreeSet<&str> = fresh
                .keys()
                .chain(current.keys())
                .filter(|name| fresh.get(*name) != current.get(*name))
                .map(String::as_str)
                .collect();
            let stale: Vec<&str> = stale.into_iter().collect();
            bail!(
                "the checked-in code in proto/src/gen is stale ({}); run `cargo xtask codegen`",
                stale.join(", ")
            );
        }
        println!("proto/src/gen is up to date");
        return Ok(());
    }
    std::fs::create_dir_all(&checked_in)?;
    for name in current.keys().filter(|name| !fresh.contains_key(*name)) {
        std::fs::remove_file(checked_in.join(name))?;
    }
    for (name, text) in &fresh {
        std::fs::write(checked_in.join(name), text)?;
    }
    println!("regenerated {} file(s) in proto/src/gen", fresh.len());
    Ok(())
}

/// Wasm guest crates: (package, module file, example folder to install into).
const WASM_GUESTS: [(&str, &str, Option<&str>); 3] = [
    (
        "hello-wasm",
        "hello_wasm.wasm",
        Some("examples/plugins/hello-wasm"),
    ),
    ("fs-guest", "fs_guest.wasm", None),
    ("sdk-echo", "sdk_echo.wasm", None),
];

const WASM_TARGET: &str = "wasm32-wasip1";

/// Component guests (WASI 0.2): (package, component file, example folder).
const COMPONENT_GUESTS: [(&str, &str, Option<&str>); 2] = [
    (
        "hello-component",
        "hello_component.wasm",
        Some("examples/plugins/hello-component"),
    ),
    ("hostile-component", "hostile_component.wasm", None),
];

const COMPONENT_TARGET: &str = "wasm32-wasip2";
/// The cargo profile the guests are built with (see the root Cargo.toml).
const WASM_PROFILE: &str = "wasm-guest";

/// gRPC plugin binaries: (package, example folder to install into).
const GRPC_BINARIES: [(&str, Option<&str>); 2] = [
    ("hello-grpc", Some("examples/plugins/hello-grpc")),
    ("raw-grpc-plugin", None),
];

/// Whether cargo shows its build progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// `--quiet`: only errors (tests capture the output).
    Quiet,
    /// cargo's progress on stderr (a first build takes minutes).
    Shown,
}

fn examples(progress: Progress) -> Result<()> {
    let root = workspace_root();
    ensure_target(WASM_TARGET)?;
    ensure_target(COMPONENT_TARGET)?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);

    let wasm_packages = WASM_GUESTS.map(|(package, _, _)| package);
    cargo_build(
        &root,
        Some((WASM_TARGET, WASM_PROFILE)),
        &wasm_packages,
        progress,
    )?;
    let wasm_dir = target_dir.join(WASM_TARGET).join(WASM_PROFILE);
    for (_, module, folder) in WASM_GUESTS {
        if let Some(folder) = folder {
            install(&wasm_dir.join(module), &root.join(folder).join(module))?;
        }
    }

    let component_packages = COMPONENT_GUESTS.map(|(package, _, _)| package);
    cargo_build(
        &root,
        Some((COMPONENT_TARGET, WASM_PROFILE)),
        &component_packages,
        progress,
    )?;
    let component_dir = target_dir.join(COMPONENT_TARGET).join(WASM_PROFILE);
    for (_, component, folder) in COMPONENT_GUESTS {
        if let Some(folder) = folder {
            install(
                &component_dir.join(component),
                &root.join(folder).join(component),
            )?;
        }
    }

    python_examples(&root, &target_dir)?;
    js_examples(&root, &target_dir)?;
    go_examples(&root)?;

    let grpc_packages = GRPC_BINARIES.map(|(package, _)| package);
    cargo_build(&root, None, &grpc_packages, progress)?;
    let host_dir = target_dir.join("debug");
    for (binary, folder) in GRPC_BINARIES {
        if let Some(folder) = folder {
            install(&host_dir.join(binary), &root.join(folder).join(binary))?;
        }
    }
    println!("{WASM_TARGET}={}", wasm_dir.display());
    println!("{COMPONENT_TARGET}={}", component_dir.display());
    println!("host={}", host_dir.display());
    Ok(())
}

/// Python component examples: (example folder, source, component file).
const PYTHON_EXAMPLES: [(&str, &str, &str); 1] = [(
    "examples/plugins/hello-python",
    "app.py",
    "hello_python.wasm",
)];

/// componentize-py, pinned; installed from PyPI into `target/componentize-py`.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// JavaScript component examples: (example folder, source, component file).
const JS_EXAMPLES: [(&str, &str, &str); 1] =
    [("examples/plugins/hello-js", "app.js", "hello_js.wasm")];

/// componentize-js, pinned; installed from npm into `target/componentize-js`.
const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";

/// The build script componentize-js is driven by: `node build.mjs SOURCE
/// WIT_DIR OUTPUT`.
const COMPONENTIZE_JS_SCRIPT: &str = r#"import { componentize } from '@bytecodealliance/componentize-js';
import { readFile, writeFile } from 'node:fs/promises';
const [source, witPath, output] = process.argv.slice(2);
const { component } = await componentize(await readFile(source, 'utf8'), { witPath, worldName: 'plugin' });
await writeFile(output, component);
"#;

/// Go examples on the core-wasm ABI: (example folder, module file). Built
/// with Go's own toolchain for `wasip1` as a reactor; Go's build cache makes
/// a rebuild of unchanged source quick, so they are always built.
const GO_EXAMPLES: [(&str, &str); 1] = [("examples/plugins/hello-go", "hello_go.wasm")];

/// The Go examples, with `go build -buildmode=c-shared` for `wasip1`.
fn go_examples(root: &Path) -> Result<()> {
    for (folder, module) in GO_EXAMPLES {
        let folder = root.join(folder);
        let temporary = tempfile::Builder::new()
            .suffix(".wasm")
            .tempfile_in(&folder)?;
        let status = std::process::Command::new("go")
            .args(["build", "-buildmode=c-shared", "-trimpath", "-o"])
            .arg(temporary.path())
            .arg(".")
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            .current_dir(&folder)
            .status()
            .context("running go: Go 1.24+ is needed (https://go.dev/dl, or Debian's golang-go)")?;
        if !status.success() {
            bail!("building {} failed", folder.display());
        }
        let output = folder.join(module);
        temporary
            .persist(&output)
            .with_context(|| format!("installing {}", output.display()))?;
    }
    Ok(())
}

/// Whether `output` is newer than `source` and the WIT world.
fn fresh(root: &Path, source: &Path, output: &Path) -> bool {
    let mtime = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let newest = [source, &root.join("wit/plugin.wit")]
        .iter()
        .filter_map(|p| mtime(p))
        .max();
    mtime(output).is_some_and(|built| newest.is_some_and(|n| built >= n))
}

/// Builds each of `examples` (folder, source, component file) whose
/// component is older than its source or the WIT, with `build(folder,
/// source, output)`; the component is installed only when the build
/// succeeds.
fn component_examples(
    root: &Path,
    examples: &[(&str, &str, &str)],
    mut build: impl FnMut(&Path, &str, &Path) -> Result<std::process::ExitStatus>,
) -> Result<()> {
    for (folder, source, component) in examples {
        let folder = root.join(folder);
        let output = folder.join(component);
        if fresh(root, &folder.join(source), &output) {
            continue;
        }
        let temporary = tempfile::NamedTempFile::new_in(&folder)?;
        if !build(&folder, source, temporary.path())?.success() {
            bail!("building {} failed", folder.join(source).display());
        }
        temporary
            .persist(&output)
            .with_context(|| format!("installing {}", output.display()))?;
    }
    Ok(())
}

/// The Python examples, with componentize-py against `wit/`.
fn python_examples(root: &Path, target_dir: &Path) -> Result<()> {
    let mut tool = None;
    component_examples(root, &PYTHON_EXAMPLES, |folder, source, output| {
        let tool = match &tool {
            Some(tool) => tool,
            None => tool.insert(componentize_py(target_dir)?),
        };
        std::process::Command::new(tool)
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "plugin", "componentize", "-p"])
            .arg(folder)
            .arg(source.trim_end_matches(".py"))
            .arg("-o")
            .arg(output)
            .status()
            .context("running componentize-py")
    })
}

/// The JavaScript examples, with componentize-js against `wit/`.
fn js_examples(root: &Path, target_dir: &Path) -> Result<()> {
    let mut script = None;
    component_examples(root, &JS_EXAMPLES, |folder, source, output| {
        let script = match &script {
            Some(script) => script,
            None => script.insert(componentize_js(target_dir)?),
        };
        std::process::Command::new("node")
            .arg(script)
            .arg(folder.join(source))
            .arg(root.join("wit"))
            .arg(output)
            .status()
            .context("running node: Node.js 20+ with npm is needed")
    })
}

/// componentize-js under `target/`, installed on first use; returns the
/// build script.
fn componentize_js(target_dir: &Path) -> Result<PathBuf> {
    let dir = target_dir.join("componentize-js");
    let script = dir.join("build.mjs");
    let marker = dir.join("installed.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(COMPONENTIZE_JS) {
        // Another version's tree, upgraded in place, can lose packages:
        // install afresh.
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let status = std::process::Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--save-exact",
                "--prefix",
            ])
            .arg(&dir)
            .arg(COMPONENTIZE_JS)
            .status()
            .context("running npm: Node.js 20+ with npm is needed")?;
        if !status.success() {
            bail!("npm install {COMPONENTIZE_JS} failed");
        }
        std::fs::write(&marker, COMPONENTIZE_JS)?;
    }
    std::fs::write(&script, COMPONENTIZE_JS_SCRIPT)?;
    Ok(script)
}

/// componentize-py in a venv under `target/`, installed on first use.
fn componentize_py(target_dir: &Path) -> Result<PathBuf> {
    let venv = target_dir.join("componentize-py");
    let tool = venv.join("bin/componentize-py");
    let marker = venv.join("installed.txt");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(COMPONENTIZE_PY) && tool.exists() {
        return Ok(tool);
    }
    let run = |command: &mut std::process::Command, what: &str| -> Result<()> {
        let status = command.status().with_context(|| {
            format!("{what}: Python 3.11+ with venv and pip is needed (Debian: apt install python3-venv)")
        })?;
        if !status.success() {
            bail!("{what} failed");
        }
        Ok(())
    };
    run(
        std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv),
        "python3 -m venv",
    )?;
    run(
        std::process::Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            COMPONENTIZE_PY,
        ]),
        "pip install componentize-py",
    )?;
    std::fs::write(&marker, COMPONENTIZE_PY)?;
    Ok(tool)
}

/// Builds `packages`, for the host or for a (target, profile).
/// Builds the examples, then runs the host on them until interrupted.
fn demo(extra: &[&str]) -> Result<()> {
    eprintln!("building the examples and pluginctl (the first build takes minutes)");
    examples(Progress::Shown)?;
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--package", "plugin-manager", "--bin", "pluginctl"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building pluginctl failed");
    }
    let mut run = std::process::Command::new(cargo);
    run.current_dir(&root).args([
        "run",
        "--quiet",
        "--package",
        "plugin-manager",
        "--bin",
        "pluginctl",
        "--",
        "run",
        "examples/plugins",
    ]);
    if option(extra, "--data-dir").is_none() {
        run.args(["--data-dir", "target/demo-data"]);
    }
    run.args(extra);
    let data_dir = option(extra, "--data-dir").unwrap_or("target/demo-data");
    let listen = option(extra, "--listen").unwrap_or("127.0.0.1:7890");
    eprintln!("starting the host on examples/plugins (admin API on {listen})");
    let mut child = run.spawn().context("running pluginctl")?;
    match wait_for_admin(&mut child, listen, DEMO_ADMIN_WAIT)? {
        Admin::Answers => eprintln!("{}", try_lines(data_dir, listen)),
        Admin::Silent => eprintln!(
            "the admin API on {listen} has not answered within {}s; when it does, try:\n{}",
            DEMO_ADMIN_WAIT.as_secs(),
            try_lines(data_dir, listen)
        ),
        Admin::Exited(status) => bail!("pluginctl run ended with {status}"),
    }
    let status = child.wait().context("running pluginctl")?;
    if !status.success() {
        bail!("pluginctl run ended with {status}");
    }
    Ok(())
}

/// How long `demo` waits for the admin API to answer before it prints the
/// "try:" lines anyway.
const DEMO_ADMIN_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The value of `--name VALUE` or `--name=VALUE` in `args`.
fn option<'a>(args: &[&'a str], name: &str) -> Option<&'a str> {
    args.iter().enumerate().find_map(|(i, arg)| {
        if *arg == name {
            args.get(i + 1).copied()
        } else {
            arg.strip_prefix(name)?.strip_prefix('=')
        }
    })
}

/// What became of the admin API while `demo` waited.
enum Admin {
    /// It answered an HTTP request.
    Answers,
    /// Not within the wait.
    Silent,
    /// pluginctl ended first.
    Exited(std::process::ExitStatus),
}

/// Polls the admin API at `listen` (`ADDR` or `unix:PATH`) until it answers
/// an HTTP request (any status: without a token it answers 401), `child`
/// exits, or `wait` has passed.
fn wait_for_admin(
    child: &mut std::process::Child,
    listen: &str,
    wait: std::time::Duration,
) -> Result<Admin> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Some(status) = child.try_wait().context("waiting for pluginctl")? {
            return Ok(Admin::Exited(status));
        }
        if answers(listen) {
            return Ok(Admin::Answers);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(Admin::Silent);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Whether an HTTP server at `listen` answers `GET /plugins` (with any
/// status).
fn answers(listen: &str) -> bool {
    let timeout = Some(std::time::Duration::from_secs(2));
    let host = if listen.starts_with("unix:") {
        "localhost"
    } else {
        listen
    };
    let request = format!("GET /plugins HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let exchange = |stream: &mut dyn ReadWrite| -> std::io::Result<bool> {
        stream.write_all(request.as_bytes())?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1."))
    };
    let answered = match listen.strip_prefix("unix:") {
        Some(path) => std::os::unix::net::UnixStream::connect(path).and_then(|mut s| {
            s.set_read_timeout(timeout)?;
            exchange(&mut s)
        }),
        None => listen
            .parse::<std::net::SocketAddr>()
            .map_err(std::io::Error::other)
            .and_then(|addr| {
                let mut s =
                    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))?;
                s.set_read_timeout(timeout)?;
                exchange(&mut s)
            }),
    };
    answered.unwrap_or(false)
}

/// A stream to talk HTTP/1.1 over.
trait ReadWrite: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}

/// What to try against the running demo.
fn try_lines(data_dir: &str, listen: &str) -> String {
    let (socket, base) = match listen.strip_prefix("unix:") {
        Some(path) => (
            format!(" --unix-socket {path}"),
            "http://localhost".to_owned(),
        ),
        None => (String::new(), format!("http://{listen}")),
    };
    format!(
        "the admin API answers; in another terminal try:\n  \
         TOKEN=$(cat {data_dir}/admin-token)   # the admin API's bearer token\n  \
         curl -s{socket} -H \"Authorization: Bearer $TOKEN\" {base}/plugins\n  \
         curl -s{socket} -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -XPOST {base}/plugins/hello-wasm/call/greet -d '{{\"name\":\"Ada\"}}'\n  \
         curl -sN{socket} -H \"Authorization: Bearer $TOKEN\" {base}/events\n\
         Ctrl-C stops it."
    )
}

fn cargo_build(
    root: &Path,
    target: Option<(&str, &str)>,
    packages: &[&str],
    progress: Progress,
) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.current_dir(root).arg("build");
    if progress == Progress::Quiet {
        build.arg("--quiet");
    }
    if let Some((target, profile)) = target {
        build.args(["--target", target, "--profile", profile]);
    }
    for package in packages {
        build.args(["--package", package]);
    }
    let status = build.status().context("running cargo build")?;
    if !status.success() {
        bail!("building {} failed", packages.join(", "));
    }
    Ok(())
}

/// Copies `from` to `to` through a temporary file and a rename, so a process
/// running the old `to` (tests run in parallel) is never disturbed and never
/// sees a half-written file.
fn install(from: &Path, to: &Path) -> Result<()> {
    let folder = to.parent().unwrap_or(Path::new("."));
    // Closed before the copy: no handle of ours stays open for writing on
    // a file that a test may execute next ("text file busy").
    let temporary = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("creating a file in {}", folder.display()))?
        .into_temp_path();
    std::fs::copy(from, &temporary)
        .with_context(|| format!("copying {} into {}", from.display(), folder.display()))?;
    temporary
        .persist(to)
        .with_context(|| format!("installing {}", to.display()))?;
    Ok(())
}

fn ensure_target(target: &str) -> Result<()> {
    let installed = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(output)
            if String::from_utf8_lossy(&output.stdout)
                .lines()
                .any(|l| l == target) =>
        {
            Ok(())
        }
        Ok(_) => {
            let status = std::process::Command::new("rustup")
                .args(["target", "add", target])
                .status()
                .context("running rustup")?;
            if status.success() {
                Ok(())
            } else {
                bail!("rustup target add {target} failed")
            }
        }
        // No rustup: the toolchain may still have the target; cargo will say.
        Err(_) => Ok(()),
    }
}

fn generate(proto_dir: &Path, out_dir: &Path) -> Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path().context("locating the vendored protoc")?;
    let well_known =
        protoc_bin_vendored::include_path().context("locating the vendored protobuf includes")?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| proto_dir.join(p)).collect();
    let includes = [proto_dir.to_path_buf(), well_known];
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .out_dir(out_dir)
        .compile_with_config(config, &protos, &includes)
        .context("compiling the .proto files")
}

fn read_dir_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.insert(name, std::fs::read_to_string(&path)?);
        }
    }
    Ok(files)
}
