//! The hostile suite again, with a plugin in Python (grpcio, go-plugin's
//! protocol by hand: `plugin-grpc/tests/python/hostile_plugin.py`): an
//! interpreted plugin whose interpreter lives outside the system folders
//! asks for that folder in its manifest, the host grants it, and the kernel
//! holds the rest shut. Each attempt is its own test; each fails inside the
//! plugin with the kernel's error (or ends only that plugin), and a
//! bystander plugin keeps serving.

#![allow(clippy::unwrap_used)] // test helpers panic on failure by design

#[path = "../../test-support/examples.rs"]
mod examples;
#[path = "../../test-support/python.rs"]
mod python;
#[path = "../../test-support/raw_plugin.rs"]
mod raw_plugin;

use std::sync::Arc;
use std::time::Duration;

use plugin_core::{Condition, HostGrants, Manifest, MemoryHost, Runner, RunnerErrorKind};
use plugin_grpc::GrpcRunner;
use plugin_types::PermissionPolicy;
use raw_plugin::{RawPlugin, raw};
use serde_json::{Value, json};

/// The kernel refusing a path: Landlock's `EACCES`, `ENOENT` where the
/// private root has no such path, `EROFS` where it is mounted read-only.
const DENIED: &[&str] = &[
    "Permission denied",
    "No such file or directory",
    "Read-only file system",
];

/// A running Python plugin, its folder, and the host's data folder.
struct Py {
    dir: tempfile::TempDir,
    data: tempfile::TempDir,
    runner: GrpcRunner,
    bystander: GrpcRunner,
    _bystander_plugin: RawPlugin,
}

impl Py {
    /// Starts the plugin, asking `connect` TCP ports (granted), with its
    /// memory capped at 128 MiB and its processes at 64; confinement strict.
    async fn start(connect: &[u16]) -> Self {
        let py = python::ready();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&py.script, dir.path().join("hostile_plugin.py")).unwrap();
        let ports: Vec<String> = connect.iter().map(u16::to_string).collect();
        let yaml = format!(
            "name: py-hostile\nruntime: grpc\ngrpc:\n  binary: {}\n  args: [hostile_plugin.py]\n  auto_mtls: false\n  env: {{HOSTILE_STUBS: {}}}\n  permissions:\n    filesystem: [{{path: {}}}, {{path: {}}}]\n    network: {{connect: [{}]}}\n    memory: {{max: 128MiB}}\n    processes: 64\n",
            py.interpreter.display(),
            py.stubs.display(),
            py.base_prefix.display(),
            py.root.display(),
            ports.join(", ")
        );
        std::fs::write(dir.path().join("plugin.yaml"), yaml).unwrap();
        let manifest = Manifest::from_file(dir.path()).unwrap();
        // The host grants the interpreter's folders and the ports.
        let policy = json!({
            "plugins": {"py-hostile": {
                "filesystem": [{"path": py.base_prefix}, {"path": py.root}],
                "tcp_connect": connect,
            }},
            "confinement": "strict",
        });
        let policy: PermissionPolicy = serde_json::from_value(policy).unwrap();
        let data = tempfile::tempdir().unwrap();
        let grants = HostGrants::new(policy).with_data_dir(data.path());
        let granted = grants.grant(&manifest).unwrap();
        let runner = GrpcRunner::new(Arc::new(MemoryHost::new("py-hostile", json!({}))))
            .with_granted(granted)
            .with_start_timeout(Duration::from_secs(30))
            .with_call_timeout(Duration::from_secs(5));
        runner.load(&manifest).await.unwrap();
        runner.start(&json!({})).await.unwrap();

        let bystander_plugin = RawPlugin::with_yaml("bystander", "serve", "");
        let bystander = GrpcRunner::new(Arc::new(MemoryHost::new("bystander", json!({}))))
            .with_granted(grants.grant(&bystander_plugin.manifest).unwrap());
        bystander.load(&bystander_plugin.manifest).await.unwrap();
        bystander.start(&json!({})).await.unwrap();
        Self {
            dir,
            data,
            runner,
            bystander,
            _bystander_plugin: bystander_plugin,
        }
    }

    async fn ask(&self, function: &str, params: Value) -> Value {
        let out = self.runner.call(function, &raw(&params)).await.unwrap();
        serde_json::from_str(out.get()).unwrap()
    }

    /// The attempt failed inside the plugin with one of `errors`;
    /// everything serves.
    async fn refused(&self, function: &str, params: Value, errors: &[&str]) {
        let answer = self.ask(function, params.clone()).await;
        let err = answer["err"]
            .as_str()
            .unwrap_or_else(|| panic!("{function} {params} succeeded: {answer}"));
        assert!(
            errors.iter().any(|e| err.contains(e)),
            "{function} {params}: {err}"
        );
        self.serving().await;
    }

    /// The plugin and the bystander answer.
    async fn serving(&self) {
        assert_eq!(self.ask("echo", json!("still")).await, "still");
        let echo = self.bystander.call("echo", &raw(&json!(1))).await.unwrap();
        assert_eq!(echo.get(), "1");
    }

    async fn stop(self) {
        let _ = self.runner.stop(Duration::from_secs(1)).await;
        self.bystander.stop(Duration::from_secs(1)).await.unwrap();
    }
}

#[tokio::test]
async fn python_cannot_read_the_hosts_data() {
    let py = Py::start(&[]).await;
    let secret = py.data.path().join("kv.redb");
    std::fs::write(&secret, "the host's data").unwrap();
    py.refused("read", json!(secret), DENIED).await;
    // Its own data folder it can.
    let own = py.data.path().join("plugins/py-hostile/mine.txt");
    assert_eq!(py.ask("write", json!([own, "kept"])).await["ok"], "");
    assert_eq!(std::fs::read_to_string(own).unwrap(), "kept");
    py.stop().await;
}

#[tokio::test]
async fn python_cannot_read_another_plugins_folder() {
    let py = Py::start(&[]).await;
    let other = py._bystander_plugin.dir.path().join("plugin.yaml");
    py.refused("read", json!(other), DENIED).await;
    let own = py.dir.path().join("plugin.yaml");
    assert!(py.ask("read", json!(own)).await["ok"].is_string());
    py.stop().await;
}

#[tokio::test]
async fn python_cannot_read_root_though_its_interpreter_lives_there() {
    let py = Py::start(&[]).await;
    py.refused("read", json!("/root"), DENIED).await;
    py.refused("read", json!("/etc/shadow"), DENIED).await;
    py.stop().await;
}

#[tokio::test]
async fn python_cannot_write_outside_its_data_folder() {
    let py = Py::start(&[]).await;
    let outside = py._bystander_plugin.dir.path().join("dropped.txt");
    py.refused("write", json!([outside, "x"]), DENIED).await;
    assert!(!outside.exists());
    py.refused("write", json!(["/usr/dropped.txt", "x"]), DENIED)
        .await;
    py.stop().await;
}

#[tokio::test]
async fn python_does_not_inherit_the_hosts_environment() {
    // Set by cargo for this test process only: a stand-in for a secret.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let py = Py::start(&[]).await;
    assert_eq!(
        py.ask("env", json!("CARGO_MANIFEST_DIR")).await,
        Value::Null
    );
    assert_eq!(py.ask("env", json!("CARGO")).await, Value::Null);
    assert!(py.ask("env", json!("HOSTILE_STUBS")).await.is_string());
    py.stop().await;
}

#[tokio::test]
async fn python_connects_only_where_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let py = Py::start(&[]).await;
    py.refused(
        "connect",
        json!(address.to_string()),
        &["Permission denied"],
    )
    .await;
    py.stop().await;
    // Asked and granted: accepted.
    let py = Py::start(&[address.port()]).await;
    let accepted = std::thread::spawn(move || listener.accept().map(|_| ()));
    let answer = py.ask("connect", json!(address.to_string())).await;
    assert_eq!(answer["ok"], address.to_string(), "{answer}");
    accepted.join().unwrap().unwrap();
    py.stop().await;
}

/// Python reaches no unix socket but its own session's: not a socket the
/// host's user opened outside every grant, not the bystander's host broker
/// nor its gRPC server (all live); `/proc` is not there to list them.
#[tokio::test]
async fn python_cannot_reach_other_plugins_sockets() {
    let outside = tempfile::tempdir().unwrap();
    let stray = outside.path().join("service.sock");
    let _stray = std::os::unix::net::UnixListener::bind(&stray).unwrap();
    let py = Py::start(&[]).await;
    let tmp = py
        .bystander
        .call("env", &raw(&json!("TMPDIR")))
        .await
        .unwrap();
    let tmp: String = serde_json::from_str(tmp.get()).unwrap();
    let session = std::path::Path::new(&tmp).parent().unwrap().to_path_buf();
    let pid = py.bystander.process_id().unwrap();
    let sockets = [
        stray.clone(),
        session.join("host-1.sock"),
        session.join(format!("raw-{pid}.sock")),
    ];
    for socket in &sockets {
        std::os::unix::net::UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("{socket:?} is not live: {e}"));
        py.refused("connect_unix", json!(socket), DENIED).await;
    }
    py.refused("read", json!("/proc/self/net/unix"), DENIED)
        .await;
    py.stop().await;
}

/// The kernel stops the fork bomb at the cap. grpcio does not survive
/// its own threads being refused (it logs `pthread_create failed` and its
/// server stalls), so the call may end by the host's call timeout rather
/// than with `EAGAIN` in the plugin; either way the plugin never had more
/// than its cap of processes, and the host and the bystander serve on.
#[tokio::test]
async fn a_python_fork_bomb_stops_at_the_cap() {
    let py = Py::start(&[]).await;
    let pid = py.runner.process_id().unwrap();
    let params = raw(&json!(10_000));
    let call = py.runner.call("fork", &params);
    let (answer, most) = tokio::join!(call, async {
        // Meanwhile, count the plugin's children.
        let mut most = 0;
        for _ in 0..100 {
            most = most.max(children_of(pid));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        most
    });
    match answer {
        Ok(out) => {
            let answer: Value = serde_json::from_str(out.get()).unwrap();
            let err = answer["err"].as_str().unwrap_or_else(|| panic!("{answer}"));
            assert!(err.contains("Resource temporarily unavailable"), "{err}");
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                RunnerErrorKind::Timeout(_) | RunnerErrorKind::Exited(_)
            ),
            "{e}"
        ),
    }
    assert!(most > 0 && most < 64, "{most} children at most");
    let echo = py.bystander.call("echo", &raw(&json!(3))).await.unwrap();
    assert_eq!(echo.get(), "3");
    py.stop().await;
}

/// How many live processes have `parent` as their parent.
fn children_of(parent: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let rest = stat.rsplit(')').next().unwrap_or("");
                let fields: Vec<&str> = rest.split_whitespace().collect();
                fields.first().is_some_and(|s| *s != "Z")
                    && fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent)
            })
        })
        .count()
}

#[tokio::test]
async fn python_past_its_memory_cap_is_ended_alone() {
    let py = Py::start(&[]).await;
    let mut events = py.runner.events();
    let err = py
        .runner
        .call("alloc", &raw(&json!(512)))
        .await
        .unwrap_err();
    let RunnerErrorKind::Exited(status) = err.kind() else {
        panic!("not an exit: {err}");
    };
    assert!(status.contains("out of memory"), "{status}");
    let report = events
        .wait_for(|r| matches!(r.condition, Condition::Exited { .. }))
        .await
        .unwrap();
    assert!(report.condition.is_crash(), "{report:?}");
    let echo = py.bystander.call("echo", &raw(&json!(2))).await.unwrap();
    assert_eq!(echo.get(), "2");
    py.stop().await;
}

/// The system's `python3`: its `sys.base_prefix`, or a failure saying how
/// to install it.
fn system_python_prefix() -> std::path::PathBuf {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .unwrap_or_else(|e| {
            panic!("python3: {e}; this test needs Python 3 with venv (Debian: apt install python3 python3-venv)")
        });
    assert!(output.status.success(), "python3: {output:?}");
    std::path::PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Loads the plugin in `dir` with `policy`; its load error.
async fn load_error(dir: &std::path::Path, policy: Value) -> String {
    let manifest = Manifest::from_file(dir).unwrap();
    let policy: PermissionPolicy = serde_json::from_value(policy).unwrap();
    let data = tempfile::tempdir().unwrap();
    let granted = HostGrants::new(policy)
        .with_data_dir(data.path())
        .grant(&manifest)
        .unwrap();
    let runner = GrpcRunner::new(Arc::new(MemoryHost::new("py-venv", json!({}))))
        .with_granted(granted)
        .with_start_timeout(Duration::from_secs(30));
    runner.load(&manifest).await.unwrap_err().to_string()
}

/// A Python plugin in a virtual environment whose folders are not granted
/// dies before its handshake: the error quotes Python's own last words
/// and names the folders to grant. Granted them, the same plugin imports
/// its package from the virtual environment (and then exits 2, as told).
#[tokio::test]
async fn a_python_plugin_without_its_interpreters_folders_is_told_which_to_grant() {
    let base = system_python_prefix();
    let work = tempfile::tempdir().unwrap();
    let venv = work.path().join("venv");
    let made = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .unwrap();
    assert!(made.status.success(), "python3 -m venv: {made:?}");
    let lib = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(
        lib.join("site-packages/venv_only.py"),
        "import sys\nprint('venv_only imported', file=sys.stderr)\n",
    )
    .unwrap();
    let plugin = work.path().join("plugin");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::write(
        plugin.join("main.py"),
        "import venv_only\nimport sys\nsys.exit(2)\n",
    )
    .unwrap();
    let manifest = |asks: &str| {
        let yaml = format!(
            "name: py-venv\nruntime: grpc\ngrpc:\n  binary: {}\n  args: [main.py]\n  auto_mtls: false\n{asks}",
            venv.join("bin/python3").display()
        );
        std::fs::write(plugin.join("plugin.yaml"), yaml).unwrap();
    };

    manifest("");
    let error = load_error(&plugin, json!({})).await;
    assert!(
        error.contains("exited (exit status 1) before the go-plugin handshake; likely cause: the interpreter's folder"),
        "{error}"
    );
    assert!(error.contains(&venv.display().to_string()), "{error}");
    assert!(
        error.contains("grant them in plugins.permissions.plugins.py-venv.filesystem")
            || error.contains("grant it in plugins.permissions.plugins.py-venv.filesystem"),
        "{error}"
    );
    // Python's own words: the package (or, its base hidden too, its
    // standard library) not found.
    assert!(
        error.contains("ModuleNotFoundError") || error.contains("Fatal Python error"),
        "{error}"
    );

    manifest(&format!(
        "  permissions:\n    filesystem: [{{path: {}}}, {{path: {}}}]\n",
        venv.display(),
        base.display()
    ));
    let policy = json!({"plugins": {"py-venv": {
        "filesystem": [{"path": venv}, {"path": base}],
    }}});
    let error = load_error(&plugin, policy).await;
    assert!(
        error.contains("exited (exit status 2) before the go-plugin handshake; its last lines on stderr:\n    venv_only imported"),
        "{error}"
    );
}
