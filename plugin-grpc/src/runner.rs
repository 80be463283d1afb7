//! [`GrpcRunner`]: the [`Runner`] for plugins that are external processes.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use plugin_core::manifest::limits::DEFAULT_MAX_ARTIFACT_SIZE;
use plugin_core::{
    ByteSize, Granted, GrpcTimeouts, HealthStatus, HostApi, HostGrants, Identified, InFlight,
    Lifecycle, LifecycleEvents, Manifest, Phase, PluginInfo, Reporter, Runner, RunnerError,
    RunnerErrorKind,
};
use proto::channel::Direct;
use proto::flowbot::plugin as pb;
use proto::go_plugin::grpc_controller_client::GrpcControllerClient;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::task::JoinHandle;

use crate::broker::{HOST_SERVICE_ID, HostBroker};
use crate::error::LaunchError;
use crate::functions::{self, Failure};
use crate::launch::{LaunchSpec, Launched, launch};
use crate::process::PluginProcess;
use crate::stdio;

/// Runs one gRPC plugin as a child process, speaking go-plugin's protocol.
///
/// `load` checks the executable against `grpc.checksum`, starts it in its
/// plugin folder, reads its handshake, connects, checks its health and offers
/// it `HostService` (backed by the [`HostApi`] given to [`GrpcRunner::new`])
/// through the go-plugin broker. `start` sends `Init` with the configuration.
/// Calls map to `PluginService` RPCs (the table is in `src/functions.rs`),
/// each bounded by the call timeout. `stop` drains calls, asks the plugin to
/// shut down, and kills it after a grace period.
///
/// The process never outlives the runner or the host (it runs in its own
/// process group with a parent-death signal; see `src/process.rs`). When it
/// exits on its own, calls fail with "plugin NAME exited (STATUS)" and its
/// [`events`](Runner::events) report [`Condition::Exited`](plugin_core::Condition::Exited) (not expected),
/// for a supervisor to restart it.
pub struct GrpcRunner {
    host: Arc<dyn HostApi>,
    start_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    shutdown_grace: Option<Duration>,
    max_message_size: usize,
    max_artifact_size: ByteSize,
    granted: Option<Granted>,
    reporter: Reporter,
    session: RwLock<Option<Arc<Session>>>,
}

/// A loaded plugin: its process, connection and state.
struct Session {
    client: pb::plugin_service_client::PluginServiceClient<Direct>,
    channel: Direct,
    process: PluginProcess,
    /// `HostService` offered over the plugin's broker; closed before the
    /// plugin is asked to shut down (as go-plugin does), so its streams end.
    broker: Mutex<Option<HostBroker>>,
    lifecycle: Lifecycle,
    /// The confinement in force.
    confinement: plugin_types::ConfinementReport,
    calls: InFlight,
    /// What this plugin's start, calls and shutdown may take.
    timeouts: GrpcTimeouts,
    /// The health check sent at launch, awaited by `start`.
    health: Mutex<HealthCheck>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Holds the sockets; removed when the session goes.
    _socket_dir: tempfile::TempDir,
}

/// Where the health check sent at launch stands.
enum HealthCheck {
    /// On its way.
    Sent(JoinHandle<Result<(), LaunchError>>),
    /// The plugin is serving.
    Passed,
    /// The plugin is not serving: why.
    Failed(String),
}

impl HealthCheck {
    async fn outcome(self) -> Result<(), LaunchError> {
        match self {
            Self::Sent(check) => check
                .await
                .unwrap_or_else(|e| Err(LaunchError::Unhealthy(format!("the check failed: {e}")))),
            Self::Passed => Ok(()),
            Self::Failed(reason) => Err(LaunchError::Unhealthy(reason)),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(|p| p.into_inner()) {
            task.abort();
        }
        if let HealthCheck::Sent(check) = self.health.get_mut().unwrap_or_else(|p| p.into_inner()) {
            check.abort();
        }
    }
}

impl GrpcRunner {
    /// A runner whose plugin reaches its host through `host`, with the
    /// timeouts its manifest's `grpc.timeouts` asks (by default 10 s to
    /// start, 30 s per call, 2 s of shutdown grace) unless set here.
    pub fn new(host: Arc<dyn HostApi>) -> Self {
        Self {
            host,
            start_timeout: None,
            call_timeout: None,
            shutdown_grace: None,
            max_message_size: proto::DEFAULT_MAX_MESSAGE_SIZE,
            max_artifact_size: DEFAULT_MAX_ARTIFACT_SIZE,
            granted: None,
            reporter: Reporter::new(),
            session: RwLock::new(None),
        }
    }

    /// How long the plugin has to print its handshake and answer its
    /// health check (sent at `load`, awaited by `start` beside `Init`),
    /// whatever its `grpc.timeouts.start` says.
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// The deadline of each call (also sent to the plugin as the gRPC
    /// deadline), whatever its `grpc.timeouts.call` says.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// How long `stop` waits for the plugin to exit after asking it to,
    /// before killing it, whatever its `grpc.timeouts.shutdown` says.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }

    /// The largest gRPC message decoded or encoded, to or from the plugin,
    /// on calls and on its callbacks to the host (default 4 MiB). A larger
    /// one fails that RPC from its length prefix, without being buffered.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Runs a binary of at most `limit` bytes (the host policy's
    /// `max_artifact_size`; [`DEFAULT_MAX_ARTIFACT_SIZE`] unless set): a
    /// `grpc.binary` that is not a regular file within it is neither read
    /// nor run (see [`plugin_core::artifact`]).
    pub fn with_max_artifact_size(mut self, limit: ByteSize) -> Self {
        self.max_artifact_size = limit;
        self
    }

    /// What the host granted the plugin (from
    /// [`HostGrants::grant`](plugin_core::HostGrants::grant)): its data
    /// folder (created at load, its `HOME`), the folders, network, memory,
    /// processes and variables its process gets, and whether confinement is
    /// strict. Without it, the plugin gets what a manifest is granted under
    /// the default policy with no data folder: `HOME` is its temporary
    /// folder, which goes with the process.
    pub fn with_granted(mut self, granted: Granted) -> Self {
        self.granted = Some(granted);
        self
    }

    /// The confinement in force on the plugin's process, measure by measure,
    /// while it is loaded ([`PluginInfo::isolation`] has it as lines).
    pub fn confinement(&self) -> Option<plugin_types::ConfinementReport> {
        self.session().ok().map(|s| s.confinement.clone())
    }

    /// The plugin's process id, while it is loaded.
    pub fn process_id(&self) -> Option<u32> {
        self.session().ok().and_then(|s| s.process.id())
    }

    fn session(&self) -> Result<Arc<Session>, RunnerError> {
        self.session
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| RunnerError::new("<not loaded>", RunnerErrorKind::NotLoaded))
    }
}

fn other(plugin: &str, error: impl std::error::Error + Send + Sync + 'static) -> RunnerError {
    RunnerError::new(plugin, RunnerErrorKind::Other(Box::new(error)))
}

impl Session {
    /// The error for a failed RPC: the exit status if the process is gone
    /// (or goes within a moment: a broken connection usually means it died).
    async fn rpc_error(&self, status: tonic::Status, timeout: Duration) -> RunnerErrorKind {
        use tonic::Code;
        // The client's own deadline (the call timeout, sent as grpc-timeout).
        // tonic turns its own deadline into CANCELLED with this message.
        let timed_out = status.code() == Code::Cancelled
            && status.message() == tonic::TimeoutExpired(()).to_string();
        let has_source = std::error::Error::source(&status).is_some();
        if status.code() == Code::DeadlineExceeded || timed_out {
            return RunnerErrorKind::Timeout(timeout);
        }
        // A status the plugin sent has no source; one made by the client from
        // a broken connection carries the transport error.
        let transport = matches!(status.code(), Code::Unavailable | Code::Cancelled) || has_source;
        if transport {
            let exited =
                tokio::time::timeout(Duration::from_millis(500), self.process.wait()).await;
            return match exited {
                Ok(status) => RunnerErrorKind::Exited(status),
                Err(_) => RunnerErrorKind::Protocol(format!("transport: {}", status.message())),
            };
        }
        match status.code() {
            Code::Unimplemented => RunnerErrorKind::Unsupported,
            _ => RunnerErrorKind::Plugin(status.message().to_owned()),
        }
    }
}

#[async_trait]
impl Runner for GrpcRunner {
    async fn load(&self, manifest: &Manifest) -> Result<PluginInfo, RunnerError> {
        let name: Arc<str> = manifest.name.as_str().into();
        let Some(grpc) = &manifest.grpc else {
            return Err(RunnerError::new(
                &*name,
                RunnerErrorKind::Protocol("the manifest has no grpc section".to_owned()),
            ));
        };
        if self
            .session
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Err(RunnerError::new(
                &*name,
                RunnerErrorKind::Protocol("already loaded; use a new runner".to_owned()),
            ));
        }
        let asked = grpc.timeouts;
        let timeouts = GrpcTimeouts {
            start: self.start_timeout.unwrap_or(asked.start),
            call: self.call_timeout.unwrap_or(asked.call),
            shutdown: self.shutdown_grace.unwrap_or(asked.shutdown),
        };
        // The process runs in the plugin folder: a relative path must not be
        // resolved against it a second time.
        let binary = std::path::absolute(&grpc.binary).map_err(|e| other(&name, e))?;
        let dir = manifest
            .dir
            .clone()
            .or_else(|| grpc.binary.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| ".".into());
        let socket_dir = tempfile::Builder::new()
            .prefix("flowbot-plugin-")
            .tempdir()
            .map_err(|e| other(&name, e))?;
        // Its temporary folder lives (and goes) with the session's sockets.
        let temp_dir = socket_dir.path().join("tmp");
        std::fs::create_dir(&temp_dir).map_err(|e| other(&name, e))?;
        let granted = match &self.granted {
            Some(granted) => granted.clone(),
            None => HostGrants::default().grant(manifest).map_err(|e| {
                RunnerError::new(&*name, RunnerErrorKind::PermissionDenied(Box::new(e)))
            })?,
        };
        let process_grant = granted.process.clone().unwrap_or_default();
        let home = match &granted.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| other(&name, e))?;
                Some(dir.clone())
            }
            None => None,
        };
        let Launched {
            process,
            channel,
            health,
            confinement,
            broker_tls,
        } = launch(&LaunchSpec {
            plugin: &name,
            binary: &binary,
            args: &grpc.args,
            dir: &dir,
            checksum: grpc.checksum.as_ref(),
            max_artifact_size: self.max_artifact_size,
            socket_dir: socket_dir.path(),
            home: home.as_deref().unwrap_or(temp_dir.as_path()),
            temp_dir: &temp_dir,
            start_timeout: timeouts.start,
            grant: &process_grant,
            connect: &granted.connect,
            folders: &granted.filesystem,
            transport: grpc.transport,
            mtls: grpc.mtls(),
        })
        .await
        .map_err(|e| other(&name, e))?;

        let broker = HostBroker::start(
            channel.clone(),
            name.clone(),
            // Every callback goes through it: the identity fields and
            // bounds the host sets.
            Identified::wrap(&name, self.host.clone()),
            socket_dir.path(),
            self.max_message_size,
            broker_tls,
        )
        .await
        .map_err(|e| other(&name, e))?;
        let stdio = stdio::forward(channel.clone(), name.clone());
        let client = pb::plugin_service_client::PluginServiceClient::new(channel.clone())
            .max_decoding_message_size(self.max_message_size)
            .max_encoding_message_size(self.max_message_size);

        let applied: Vec<String> = confinement.measures.iter().map(|m| m.to_string()).collect();
        let session = Arc::new(Session {
            client,
            channel,
            process,
            broker: Mutex::new(Some(broker)),
            lifecycle: Lifecycle::new(&name, self.reporter.clone()),
            confinement,
            calls: InFlight::new(),
            timeouts,
            health: Mutex::new(HealthCheck::Sent(health)),
            tasks: Mutex::new(vec![stdio]),
            _socket_dir: socket_dir,
        });
        let watcher = watch_exit(&session, self.reporter.clone());
        session
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(watcher);

        tracing::info!(plugin = %name, pid = ?session.process.id(), confinement = %applied.join("; "), "gRPC plugin loaded");
        *self.session.write().unwrap_or_else(|p| p.into_inner()) = Some(session);
        let mut info = PluginInfo::from(manifest);
        info.isolation = applied;
        Ok(info)
    }

    async fn start(&self, config: &Value) -> Result<(), RunnerError> {
        let session = self.session()?;
        match session.lifecycle.phase() {
            Phase::Loaded => {}
            Phase::Started => return Ok(()),
            Phase::Stopping => {
                return Err(session.lifecycle.fail(None, RunnerErrorKind::Stopped));
            }
        }
        let request = pb::InitRequest {
            config: config.to_string(),
            broker_id: HOST_SERVICE_ID,
        };
        let mut client = session.client.clone();
        let mut request = tonic::Request::new(request);
        let start_timeout = session.timeouts.start;
        request.set_timeout(start_timeout);
        // `Init` goes out beside the health check sent at launch; the
        // plugin must pass both.
        let check = std::mem::replace(
            &mut *session.health.lock().unwrap_or_else(|p| p.into_inner()),
            HealthCheck::Passed,
        );
        let (health, init) = tokio::join!(
            check.outcome(),
            tokio::time::timeout(start_timeout, client.init(request))
        );
        if let Err(e) = health {
            // A later `start` fails the same way.
            let reason = match &e {
                LaunchError::Unhealthy(reason) => reason.clone(),
                other => other.to_string(),
            };
            *session.health.lock().unwrap_or_else(|p| p.into_inner()) = HealthCheck::Failed(reason);
            return Err(session
                .lifecycle
                .fail(None, RunnerErrorKind::Other(Box::new(e))));
        }
        let result = match init {
            Err(_) => Err(RunnerErrorKind::Timeout(start_timeout)),
            Ok(Err(status)) => Err(session.rpc_error(status, start_timeout).await),
            Ok(Ok(_)) => Ok(()),
        };
        if let Err(kind) = result {
            return Err(session.lifecycle.fail(Some("init"), kind));
        }
        session.lifecycle.mark_started();
        Ok(())
    }

    async fn stop(&self, drain: Duration) -> Result<(), RunnerError> {
        let Some(session) = self
            .session
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Ok(());
        };
        session.lifecycle.mark_stopping();
        if !session.calls.drain(Some(drain)).await {
            tracing::warn!(plugin = %session.lifecycle.plugin(), "calls still running after the drain deadline; ending them");
        }

        // The host service takes no new connections from here on.
        let mut broker = session
            .broker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(broker) = &mut broker {
            broker.close();
        }
        if session.process.exit_status().is_none() {
            let mut controller = GrpcControllerClient::new(session.channel.clone());
            let asked = tokio::time::timeout(
                session.timeouts.shutdown,
                controller.shutdown(proto::go_plugin::Empty {}),
            )
            .await;
            if !matches!(asked, Ok(Ok(_))) {
                tracing::debug!(plugin = %session.lifecycle.plugin(), "no answer to GRPCController.Shutdown");
            }
            if tokio::time::timeout(session.timeouts.shutdown, session.process.wait())
                .await
                .is_err()
            {
                tracing::warn!(plugin = %session.lifecycle.plugin(), "did not exit within the grace period; killing it");
            }
        }
        // Kill what is left of the process group (the plugin's own children
        // included) and wait for the exit to be recorded.
        session.process.kill();
        let status = session.process.wait().await;
        // The plugin is gone, so its connections to the host service close;
        // once they have, nothing of this plugin holds the host any more.
        if let Some(broker) = broker {
            broker.closed(session.timeouts.shutdown).await;
        }
        self.reporter.exited(status, true);
        tracing::debug!(plugin = %session.lifecycle.plugin(), "gRPC plugin stopped");
        Ok(())
    }

    async fn call(&self, function: &str, params: &RawValue) -> Result<Box<RawValue>, RunnerError> {
        let session = self.session()?;
        let fail = |kind| session.lifecycle.fail(Some(function), kind);
        session.lifecycle.check_callable(function)?;
        let Some(_pass) = session.calls.enter() else {
            return Err(fail(RunnerErrorKind::Stopped));
        };
        if let Some(status) = session.process.exit_status() {
            return Err(fail(RunnerErrorKind::Exited(status)));
        }
        // tonic would refuse it too, but by resetting the stream, which
        // reads as a transport failure: say what it is instead.
        let size = params.get().len();
        if size > self.max_message_size {
            return Err(fail(RunnerErrorKind::LimitExceeded(format!(
                "params of {size} bytes are over the message limit of {} bytes",
                self.max_message_size
            ))));
        }
        let mut client = session.client.clone();
        let mut exit = session.process.exit_watch();
        let timeout = session.timeouts.call;
        let outcome = tokio::select! {
            biased;
            result = tokio::time::timeout(timeout, functions::invoke(&mut client, function, params, timeout)) => result,
            status = exit.wait_for(Option::is_some) => {
                let status = status.map(|s| s.clone().unwrap_or_default()).unwrap_or_default();
                return Err(fail(RunnerErrorKind::Exited(status)));
            }
        };
        let kind = match outcome {
            Ok(Ok(result)) => return Ok(result),
            Err(_) => RunnerErrorKind::Timeout(timeout),
            Ok(Err(Failure::Status(status))) => session.rpc_error(status, timeout).await,
            Ok(Err(Failure::Plugin(message))) => RunnerErrorKind::Plugin(message),
            Ok(Err(Failure::Params(message))) => {
                RunnerErrorKind::Protocol(format!("params do not fit {function}: {message}"))
            }
            Ok(Err(Failure::Answer(message))) => RunnerErrorKind::Protocol(message),
        };
        Err(fail(kind))
    }

    async fn health(&self) -> Result<HealthStatus, RunnerError> {
        let session = self.session()?;
        let life = &session.lifecycle;
        if let Some(status) = session.process.exit_status() {
            life.fail(None, RunnerErrorKind::Exited(status));
            return Ok(life.health(false));
        }
        let mut client = session.client.clone();
        let mut request = tonic::Request::new(());
        let timeout = session.timeouts.call;
        request.set_timeout(timeout);
        let ready = tokio::time::timeout(timeout, client.is_ready(request)).await;
        let kind = match ready {
            Ok(Ok(answer)) => return Ok(life.health(answer.into_inner().ready)),
            Ok(Err(status)) => session.rpc_error(status, timeout).await,
            Err(_) => RunnerErrorKind::Timeout(timeout),
        };
        life.fail(Some("is_ready"), kind);
        Ok(life.health(false))
    }

    fn events(&self) -> LifecycleEvents {
        self.reporter.subscribe()
    }
}

/// Reports the process's exit, and logs a crash.
fn watch_exit(session: &Arc<Session>, reporter: Reporter) -> JoinHandle<()> {
    let weak = Arc::downgrade(session);
    let mut process_exit = session.process.exit_watch();
    let name: Arc<str> = session.lifecycle.plugin().into();
    tokio::spawn(async move {
        let Ok(status) = process_exit
            .wait_for(Option::is_some)
            .await
            .map(|s| s.clone())
        else {
            return;
        };
        let status = status.unwrap_or_default();
        // An exit once `stop` has begun is the one it asked for.
        let expected = weak
            .upgrade()
            .is_none_or(|s| s.lifecycle.phase() == Phase::Stopping);
        if expected {
            tracing::debug!(plugin = %name, "plugin exited ({status})");
        } else {
            tracing::warn!(plugin = %name, "plugin exited unexpectedly ({status})");
            if let Some(session) = weak.upgrade() {
                session
                    .lifecycle
                    .fail(None, RunnerErrorKind::Exited(status.clone()));
            }
        }
        reporter.exited(status, expected);
    })
}
