//! The manifest asks, the host grants: [`HostGrants::grant`] checks what a
//! manifest asks against the host's [`PermissionPolicy`] and returns what
//! the plugin gets ([`Granted`]), or refuses the plugin naming the manifest
//! field, the value asked and the host setting that would allow it.
//!
//! The rules:
//! - **filesystem**: a manifest may ask for folders inside its plugin folder
//!   (relative paths) and inside its data folder (`$DATA` or `$DATA/sub`,
//!   `<data-dir>/plugins/<name>/` on the host, `/data` in the guest). Any
//!   other folder (an absolute path, `..` leading out, a symlink leading
//!   out) must lie inside a folder the policy grants, with the mode asked.
//!   Paths are compared after canonicalising, and what is granted is the
//!   canonical folder, so a later symlink swap cannot move a grant.
//!   The host's own data (its data folder outside `plugins/<name>`, and any
//!   path given to [`HostGrants::with_private`]) is never granted, whatever
//!   the policy says: neither a folder inside it nor one containing it.
//! - **HTTP**: each host asked must be covered by a host the policy grants
//!   (with its scheme and port, when the grant names them); a policy that
//!   says nothing about HTTP grants any host. Addresses that are not public
//!   are reachable only through the policy's `private_networks`.
//! - **limits**: memory, execution timeout and pool size asked must be at
//!   most the policy's (by default, `plugin-core`'s ceilings); so must a
//!   process's memory, processes and CPU (`process_cpu`, which is also the
//!   CPU cap of a process that asks none).
//! - **UDP** (processes): asked in `grpc.permissions.network.udp`, granted
//!   by `udp: true`; it reaches any address and port, since the kernel has
//!   no UDP rules.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use ipnet::IpNet;
use plugin_types::Cores;
use plugin_types::permissions::{Enforcement, FsMode, Grant, HttpGrant, PermissionPolicy};

use crate::granted_dir::GrantedDir;
use crate::http_allowlist::host_matches;
use crate::manifest::limits::{
    DEFAULT_PROCESS_MEMORY_MAX, DEFAULT_PROCESSES, MAX_EXECUTION_TIMEOUT, MAX_MEMORY_MAX,
    MAX_POOL_MAX_INSTANCES, MAX_PROCESS_MEMORY_MAX, MAX_PROCESSES,
};
use crate::manifest::{
    FsPermission, GrpcSection, HttpPermission, Manifest, NetworkPermission, WasmSection,
};
use plugin_types::ByteSize;

/// How a manifest names its data folder in `filesystem` paths.
pub const DATA_PREFIX: &str = "$DATA";
/// Where the guest sees its data folder.
pub const GUEST_DATA_DIR: &str = "/data";
/// The folder, inside the host's data folder, holding one data folder per
/// plugin.
pub const PLUGINS_DATA_DIR: &str = "plugins";

/// The host's side of the grant check: its policy and where its data is.
#[derive(Debug, Clone, Default)]
pub struct HostGrants {
    policy: PermissionPolicy,
    data_dir: Option<PathBuf>,
    private: Vec<PathBuf>,
}

/// A folder a plugin may use: where it is on the host, and where the guest
/// sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The canonical folder on the host, as it was checked (for messages and
    /// reports: never open it again by this path, use [`dir`](Self::dir)).
    pub host: PathBuf,
    /// Its path in the guest.
    pub guest: String,
    /// The access granted.
    pub mode: FsMode,
    /// The folder itself, opened when it was granted: every use (a wasm
    /// instance's preopen, a process's Landlock rule or mount) is built from
    /// it. `None` only from [`HostGrants::check`], which opens nothing.
    pub dir: Option<GrantedDir>,
}

/// The setting named when a plugin asks for the host's own data.
const NEVER_HOST_DATA: &str = "nothing: the host's own data is never granted";
/// The setting named when a `$DATA` path leads out of the data folder.
const NEVER_DATA_ESCAPE: &str = "nothing: a $DATA path names a folder inside the plugin's data folder, and the host's own data is never granted";
/// The setting named when a plugin asks to write its own folder.
const NEVER_OWN_FOLDER: &str = "nothing: a plugin's own folder is never writable by it";

/// What one plugin gets: everything it asked, each within the host's grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted {
    /// The folders the guest sees.
    pub filesystem: Vec<Preopen>,
    /// Where its HTTP requests may go, by name.
    pub http: Vec<HttpPermission>,
    /// Networks that are not public that its HTTP requests (and a wasm
    /// guest's sockets) may reach.
    pub private_networks: Vec<IpNet>,
    /// TCP ports it may connect to; empty: no sockets. A process may reach
    /// them on any address; a wasm guest, through `wasi:sockets`, on public
    /// addresses and `private_networks`.
    pub connect: Vec<u16>,
    /// Its data folder on the host, when the host has one.
    pub data_dir: Option<PathBuf>,
    /// For a process (gRPC) plugin: the rest of its confinement.
    pub process: Option<ProcessGrant>,
}

/// What a plugin process gets beyond its folders and network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessGrant {
    /// The cap on its memory.
    pub memory: ByteSize,
    /// The cap on its processes and threads.
    pub processes: u32,
    /// The cap on its CPU time, if any.
    pub cpu: Option<Cores>,
    /// Whether it may use UDP (to any address and port).
    pub udp: bool,
    /// Variables set in its environment, from `grpc.env`.
    pub env: Vec<(String, String)>,
    /// Whether a confinement the kernel cannot apply fails the load.
    pub enforcement: Enforcement,
}

impl Default for ProcessGrant {
    /// What a manifest that asks nothing gets: the default caps,
    /// best-effort enforcement.
    fn default() -> Self {
        Self {
            memory: DEFAULT_PROCESS_MEMORY_MAX,
            processes: DEFAULT_PROCESSES,
            cpu: None,
            udp: false,
            env: Vec::new(),
            enforcement: Enforcement::Warn,
        }
    }
}

/// A manifest asked for more than the host grants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{field} asks for {asked}, which the host does not grant: {reason}; to allow it, set {setting} in the host's configuration"
)]
pub struct GrantError {
    /// The manifest field (`wasm.permissions.filesystem[0].path`).
    pub field: String,
    /// What it asked, as written.
    pub asked: String,
    /// Why it is refused.
    pub reason: String,
    /// The host setting that would allow it
    /// (`plugins.permissions.plugins.NAME.filesystem`).
    pub setting: String,
}

impl HostGrants {
    /// Grants under `policy`, with no data folder.
    pub fn new(policy: PermissionPolicy) -> Self {
        Self {
            policy,
            data_dir: None,
            private: Vec::new(),
        }
    }

    /// The host keeps its data in `dir`: each plugin's data folder is
    /// `dir/plugins/<name>`, and the rest of `dir` is never granted.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.private.push(dir.clone());
        self.data_dir = Some(dir);
        self
    }

    /// `path` holds host data no plugin may reach (a cache, a key file).
    pub fn with_private(mut self, path: impl Into<PathBuf>) -> Self {
        self.private.push(path.into());
        self
    }

    /// What the plugin `manifest` describes gets, or why it is refused. Each
    /// granted folder is opened here, once ([`Preopen::dir`]), and checked
    /// where that handle is; the plugin's data folder (and a `$DATA`
    /// subfolder it asks for) is created only once its ask has passed.
    pub fn grant(&self, manifest: &Manifest) -> Result<Granted, GrantError> {
        self.grant_with(manifest, true)
    }

    /// The same judgement as [`grant`](Self::grant), with no side effect:
    /// nothing is created or opened (every [`Preopen::dir`] is `None`), and a
    /// `$DATA` subfolder that does not exist yet is judged by its name. For
    /// `pluginctl validate` and `list`.
    pub fn check(&self, manifest: &Manifest) -> Result<Granted, GrantError> {
        self.grant_with(manifest, false)
    }

    fn grant_with(&self, manifest: &Manifest, open: bool) -> Result<Granted, GrantError> {
        let name = manifest.name.as_str();
        let own = self.policy.plugins.get(name);
        let setting = |what: &str| PermissionPolicy::setting(name, what);
        let data_dir = self
            .data_dir
            .as_ref()
            .map(|d| d.join(PLUGINS_DATA_DIR).join(name));
        let mut granted = Granted {
            filesystem: Vec::new(),
            http: Vec::new(),
            private_networks: self
                .policy
                .default
                .private_networks
                .iter()
                .chain(own.into_iter().flat_map(|g| &g.private_networks))
                .copied()
                .collect(),
            connect: Vec::new(),
            data_dir,
            process: None,
        };
        if let Some(wasm) = &manifest.wasm {
            self.check_limits(wasm, own, &setting)?;
            granted.connect = self.grant_connect(
                &wasm.permissions.network,
                "wasm.permissions.network",
                own,
                &setting,
            )?;
            granted.http = self.grant_http(wasm, own, &setting)?;
            granted.filesystem = self.grant_filesystem(
                manifest,
                &wasm.permissions.filesystem,
                "wasm.permissions.filesystem",
                own,
                &setting,
                open,
            )?;
        }
        if let Some(grpc) = &manifest.grpc {
            granted.filesystem = self.grant_filesystem(
                manifest,
                &grpc.permissions.filesystem,
                "grpc.permissions.filesystem",
                own,
                &setting,
                open,
            )?;
            // A process sees host paths as they are.
            for preopen in &mut granted.filesystem {
                preopen.guest = preopen.host.to_string_lossy().into_owned();
            }
            granted.connect = self.grant_connect(
                &grpc.permissions.network,
                "grpc.permissions.network",
                own,
                &setting,
            )?;
            granted.process = Some(self.grant_process(grpc, own, &setting)?);
        }
        Ok(granted)
    }

    /// HTTP: each ask covered by some grant.
    fn grant_http(
        &self,
        wasm: &WasmSection,
        own: Option<&Grant>,
        setting: &dyn Fn(&str) -> String,
    ) -> Result<Vec<HttpPermission>, GrantError> {
        let grants: Option<Vec<&HttpGrant>> =
            match (&self.policy.default.http, own.and_then(|g| g.http.as_ref())) {
                (None, _) => None,
                (Some(default), mine) => {
                    Some(default.iter().chain(mine.into_iter().flatten()).collect())
                }
            };
        let mut granted = Vec::new();
        for (i, ask) in wasm.permissions.http.iter().enumerate() {
            if let Some(grants) = &grants
                && !grants.iter().any(|g| covers(g, ask))
            {
                let list: Vec<String> = grants.iter().map(|g| describe_http(g)).collect();
                return Err(GrantError {
                    field: format!("wasm.permissions.http[{i}]"),
                    asked: ask.to_string(),
                    reason: if list.is_empty() {
                        "the host grants no HTTP".into()
                    } else {
                        format!("the host grants {}", list.join(", "))
                    },
                    setting: setting("http"),
                });
            }
            granted.push(ask.clone());
        }
        Ok(granted)
    }

    /// Filesystem: each folder inside the plugin's own (read only), its data
    /// folder, or a folder the policy grants with the mode asked; never the
    /// host's data, and never, for writing, the plugin's own folder.
    ///
    /// With `open`, each folder is opened once (no symlink followed) and the
    /// checks are made on where that handle is; a `$DATA` subfolder is
    /// created, one plain name at a time beneath the data folder, only once
    /// its ask has passed. Without it, nothing is created or opened.
    fn grant_filesystem(
        &self,
        manifest: &Manifest,
        asks: &[FsPermission],
        section: &str,
        own: Option<&Grant>,
        setting: &dyn Fn(&str) -> String,
        open: bool,
    ) -> Result<Vec<Preopen>, GrantError> {
        let data_dir = self
            .data_dir
            .as_ref()
            .map(|d| d.join(PLUGINS_DATA_DIR).join(&manifest.name));
        let plugin_dir = manifest
            .dir
            .as_deref()
            .map(canonical)
            .transpose()
            .map_err(|e| GrantError {
                field: section.into(),
                asked: "the plugin folder".into(),
                reason: e,
                setting: setting("filesystem"),
            })?;
        let policy_fs: Vec<(PathBuf, FsMode)> = self
            .policy
            .default
            .filesystem
            .iter()
            .chain(own.into_iter().flat_map(|g| &g.filesystem))
            .filter_map(|g| canonical(&g.path).ok().map(|p| (p, g.mode)))
            .collect();
        let private: Vec<PathBuf> = self
            .private
            .iter()
            .filter_map(|p| canonical(p).ok())
            .collect();
        let mut granted = Vec::new();
        for (i, ask) in asks.iter().enumerate() {
            let field = format!("{section}[{i}].path");
            let written = ask.path.to_string_lossy().into_owned();
            let refuse = |reason: String| GrantError {
                field: field.clone(),
                asked: format!("{written:?} ({})", ask.mode.as_str()),
                reason,
                setting: setting("filesystem"),
            };
            let never = |reason: String, setting: &str| GrantError {
                setting: setting.into(),
                ..refuse(reason)
            };
            let (host, dir, guest, in_own_data) = match data_sub_path(&ask.path) {
                Some(sub) => {
                    // Plain names only: `$DATA/..` is refused before anything
                    // is looked at, let alone created.
                    if sub
                        .components()
                        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
                    {
                        return Err(never(
                            format!("{written} leads out of the plugin's data folder ($DATA)"),
                            NEVER_DATA_ESCAPE,
                        ));
                    }
                    let Some(root) = data_dir.as_ref() else {
                        return Err(refuse("this host keeps no data folder for plugins".into()));
                    };
                    let guest = if sub.as_os_str().is_empty() {
                        GUEST_DATA_DIR.to_owned()
                    } else {
                        Path::new(GUEST_DATA_DIR)
                            .join(&sub)
                            .to_string_lossy()
                            .into_owned()
                    };
                    if open {
                        let dir = self.open_own_data(&manifest.name, &sub).map_err(|e| {
                            refuse(format!("cannot open {}: {e}", root.join(&sub).display()))
                        })?;
                        let host = dir.location().map_err(|e| refuse(e.to_string()))?;
                        (host, Some(dir), guest, true)
                    } else {
                        (root.join(&sub), None, guest, true)
                    }
                }
                None => {
                    let path = if ask.path.is_absolute() {
                        ask.path.clone()
                    } else {
                        match &plugin_dir {
                            Some(dir) => dir.join(&ask.path),
                            None => ask.path.clone(),
                        }
                    };
                    let path = canonical(&path).map_err(refuse)?;
                    let dir = open
                        .then(|| {
                            GrantedDir::open(&path)
                                .map_err(|e| refuse(format!("cannot open {}: {e}", path.display())))
                        })
                        .transpose()?;
                    // The checks below are made on where the opened folder
                    // is, not on the path that led to it.
                    let host = match &dir {
                        Some(dir) => dir.location().map_err(|e| refuse(e.to_string()))?,
                        None => path,
                    };
                    let own_data = data_dir.as_deref().and_then(|d| canonical(d).ok());
                    let in_own_data = own_data.as_ref().is_some_and(|d| host.starts_with(d));
                    (host, dir, written.clone(), in_own_data)
                }
            };
            // The host's own data stays closed, whatever is granted below.
            if let Some(p) = private.iter().find(|p| host.starts_with(p) && !in_own_data) {
                return Err(never(
                    format!(
                        "{} is the host's own data (in {})",
                        host.display(),
                        p.display()
                    ),
                    NEVER_HOST_DATA,
                ));
            }
            let in_plugin = plugin_dir.as_ref().is_some_and(|d| host.starts_with(d));
            let by_policy = policy_fs
                .iter()
                .filter(|(root, _)| host.starts_with(root))
                .map(|(_, mode)| *mode)
                .max();
            let allowed = in_plugin || in_own_data || by_policy.is_some_and(|m| m >= ask.mode);
            if !allowed {
                return Err(refuse(match by_policy {
                    Some(mode) => {
                        format!("the host grants {} {} only", host.display(), mode.as_str())
                    }
                    None => format!(
                        "{} is outside the plugin's folder and its data folder ($DATA)",
                        host.display()
                    ),
                }));
            }
            // Nor is a folder granted that holds the host's data.
            if let Some(p) = private.iter().find(|p| p.starts_with(&host)) {
                return Err(never(
                    format!(
                        "{} holds the host's own data ({})",
                        host.display(),
                        p.display()
                    ),
                    NEVER_HOST_DATA,
                ));
            }
            // A plugin never writes its own manifest and code: not its
            // folder, nor a folder holding it.
            if ask.mode == FsMode::ReadWrite
                && let Some(own_dir) = &plugin_dir
                && ((in_plugin && !in_own_data) || own_dir.starts_with(&host))
            {
                return Err(never(
                    format!(
                        "{} holds the plugin's own files ({}); a plugin writes only its data folder ($DATA) and folders the host grants elsewhere",
                        host.display(),
                        own_dir.display()
                    ),
                    NEVER_OWN_FOLDER,
                ));
            }
            granted.push(Preopen {
                host,
                guest,
                mode: ask.mode,
                dir,
            });
        }
        Ok(granted)
    }

    /// Opens (creating it and each missing folder on the way) `sub` in the
    /// data folder of plugin `name`: beneath the host's data folder, one
    /// plain name at a time, no symlink followed.
    fn open_own_data(&self, name: &str, sub: &Path) -> std::io::Result<GrantedDir> {
        let Some(data_dir) = &self.data_dir else {
            return Err(std::io::Error::other("no data folder"));
        };
        std::fs::create_dir_all(data_dir)?;
        let top = std::fs::canonicalize(data_dir)?;
        GrantedDir::open(&top)?
            .open_beneath(&Path::new(PLUGINS_DATA_DIR).join(name).join(sub), true)
    }

    /// TCP connect: each asked port among those granted.
    fn grant_connect(
        &self,
        asked: &NetworkPermission,
        field: &str,
        own: Option<&Grant>,
        setting: &dyn Fn(&str) -> String,
    ) -> Result<Vec<u16>, GrantError> {
        let ports: Vec<u16> = self
            .policy
            .default
            .tcp_connect
            .iter()
            .chain(own.into_iter().flat_map(|g| &g.tcp_connect))
            .copied()
            .collect();
        for (i, port) in asked.connect.iter().enumerate() {
            if !ports.contains(port) {
                return Err(GrantError {
                    field: format!("{field}.connect[{i}]"),
                    asked: format!("TCP port {port}"),
                    reason: if ports.is_empty() {
                        "the host grants no network".into()
                    } else {
                        let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                        format!("the host grants TCP ports {}", list.join(", "))
                    },
                    setting: setting("tcp_connect"),
                });
            }
        }
        Ok(asked.connect.clone())
    }

    /// The caps and environment of a plugin process.
    fn grant_process(
        &self,
        grpc: &GrpcSection,
        own: Option<&Grant>,
        setting: &dyn Fn(&str) -> String,
    ) -> Result<ProcessGrant, GrantError> {
        let default = &self.policy.default;
        let timeout = own
            .and_then(|g| g.timeout)
            .or(default.timeout)
            .unwrap_or(MAX_EXECUTION_TIMEOUT);
        if grpc.timeouts.call > timeout {
            return Err(GrantError {
                field: "grpc.timeouts.call".into(),
                asked: plugin_types::duration::format(grpc.timeouts.call),
                reason: format!(
                    "the host grants at most {}",
                    plugin_types::duration::format(timeout)
                ),
                setting: setting("timeout"),
            });
        }
        let asked = &grpc.permissions;
        let memory = own
            .and_then(|g| g.process_memory)
            .or(default.process_memory)
            .unwrap_or(MAX_PROCESS_MEMORY_MAX);
        if asked.memory.max > memory {
            return Err(GrantError {
                field: "grpc.permissions.memory.max".into(),
                asked: asked.memory.max.to_string(),
                reason: format!("the host grants at most {memory}"),
                setting: setting("process_memory"),
            });
        }
        let processes = own
            .and_then(|g| g.processes)
            .or(default.processes)
            .unwrap_or(MAX_PROCESSES);
        if asked.processes > processes {
            return Err(GrantError {
                field: "grpc.permissions.processes".into(),
                asked: asked.processes.to_string(),
                reason: format!("the host grants at most {processes}"),
                setting: setting("processes"),
            });
        }
        let udp = default.udp || own.is_some_and(|g| g.udp);
        if asked.network.udp && !udp {
            return Err(GrantError {
                field: "grpc.permissions.network.udp".into(),
                asked: "UDP (to any address and port)".into(),
                reason: "the host grants no UDP".into(),
                setting: setting("udp"),
            });
        }
        let cpu_ceiling = own.and_then(|g| g.process_cpu).or(default.process_cpu);
        if let (Some(asked), Some(ceiling)) = (asked.cpu, cpu_ceiling)
            && asked > ceiling
        {
            return Err(GrantError {
                field: "grpc.permissions.cpu".into(),
                asked: asked.to_string(),
                reason: format!("the host grants at most {ceiling}"),
                setting: setting("process_cpu"),
            });
        }
        // Neither list given: any name; otherwise the two lists together.
        let names: Option<Vec<&String>> = match (&default.env, own.and_then(|g| g.env.as_ref())) {
            (None, None) => None,
            (all, mine) => Some(all.iter().chain(mine).flatten().collect()),
        };
        for name in grpc.env.keys() {
            if let Some(names) = &names
                && !names.iter().any(|pattern| env_matches(pattern, name))
            {
                let list: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
                return Err(GrantError {
                    field: format!("grpc.env.{name}"),
                    asked: format!("the variable {name}"),
                    reason: if list.is_empty() {
                        "the host grants no variables".into()
                    } else {
                        format!("the host grants {}", list.join(", "))
                    },
                    setting: setting("env"),
                });
            }
        }
        Ok(ProcessGrant {
            memory: asked.memory.max,
            processes: asked.processes,
            cpu: asked.cpu.or(cpu_ceiling),
            udp: asked.network.udp,
            env: grpc
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            enforcement: self.policy.confinement,
        })
    }

    fn check_limits(
        &self,
        wasm: &WasmSection,
        own: Option<&Grant>,
        setting: &dyn Fn(&str) -> String,
    ) -> Result<(), GrantError> {
        let pick = |f: fn(&Grant) -> Option<u64>, ceiling: u64| {
            own.and_then(f)
                .or_else(|| f(&self.policy.default))
                .unwrap_or(ceiling)
        };
        let memory = pick(|g| g.memory.map(ByteSize::bytes), MAX_MEMORY_MAX.bytes());
        let asked = wasm.permissions.memory.max;
        if asked.bytes() > memory {
            return Err(GrantError {
                field: "wasm.permissions.memory.max".into(),
                asked: asked.to_string(),
                reason: format!("the host grants at most {}", ByteSize(memory)),
                setting: setting("memory"),
            });
        }
        let timeout = own
            .and_then(|g| g.timeout)
            .or(self.policy.default.timeout)
            .unwrap_or(MAX_EXECUTION_TIMEOUT);
        let asked = wasm.permissions.execution.timeout;
        if asked > timeout {
            return Err(GrantError {
                field: "wasm.permissions.execution.timeout".into(),
                asked: plugin_types::duration::format(asked),
                reason: format!(
                    "the host grants at most {}",
                    plugin_types::duration::format(timeout)
                ),
                setting: setting("timeout"),
            });
        }
        let instances = pick(
            |g| g.max_instances.map(u64::from),
            u64::from(MAX_POOL_MAX_INSTANCES),
        );
        let asked = wasm.pool.max_instances;
        if u64::from(asked) > instances {
            return Err(GrantError {
                field: "wasm.pool.max_instances".into(),
                asked: asked.to_string(),
                reason: format!("the host grants at most {instances}"),
                setting: setting("max_instances"),
            });
        }
        Ok(())
    }
}

impl Granted {
    /// One line per permission, as `pluginctl` shows them.
    pub fn describe(&self, manifest: &Manifest) -> Vec<String> {
        let mut lines = Vec::new();
        for fs in &self.filesystem {
            lines.push(format!("filesystem {fs}"));
        }
        for http in &self.http {
            lines.push(format!("http {http}"));
        }
        for net in &self.private_networks {
            lines.push(format!("network {net}"));
        }
        if let Some(wasm) = &manifest.wasm {
            lines.push(format!("memory {}", wasm.permissions.memory.max));
            lines.push(format!(
                "timeout {}",
                plugin_types::duration::format(wasm.permissions.execution.timeout)
            ));
            lines.push(format!("instances {}", wasm.pool.max_instances));
        }
        let ports: Vec<String> = self.connect.iter().map(u16::to_string).collect();
        if !ports.is_empty() {
            lines.push(format!("network tcp connect to ports {}", ports.join(", ")));
        }
        if let Some(process) = &self.process {
            if process.udp {
                lines.push("network udp to any address and port".to_owned());
            } else if ports.is_empty() {
                lines.push("network none".to_owned());
            }
            lines.push(format!("memory {}", process.memory));
            lines.push(format!("processes {}", process.processes));
            if let Some(cpu) = process.cpu {
                lines.push(format!("cpu {cpu}"));
            }
            for (name, _) in &process.env {
                lines.push(format!("env {name}"));
            }
            lines.push(format!("confinement {}", process.enforcement.as_str()));
        }
        lines
    }
}

/// Whether `pattern` (a name, or a prefix ending in `*`) covers `name`.
fn env_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// `$DATA` → `""`, `$DATA/sub/dir` → `"sub/dir"`; `None` for other paths.
/// The caller refuses anything but plain names in what follows `$DATA`.
fn data_sub_path(path: &Path) -> Option<PathBuf> {
    let mut components = path.components();
    match components.next() {
        Some(Component::Normal(first)) if first == DATA_PREFIX => {
            Some(components.as_path().to_path_buf())
        }
        _ => None,
    }
}

fn canonical(path: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(path).map_err(|e| format!("{} cannot be used: {e}", path.display()))
}

/// Whether grant `g` covers manifest ask `ask`.
fn covers(g: &HttpGrant, ask: &HttpPermission) -> bool {
    let pattern = g.host.trim_end_matches('.').to_ascii_lowercase();
    let host = ask.host.trim_end_matches('.').to_ascii_lowercase();
    host_matches(&pattern, &host)
        && g.scheme
            .as_ref()
            .is_none_or(|s| ask.scheme.as_ref() == Some(s))
        && g.port.is_none_or(|p| ask.port == Some(p))
}

fn describe_http(g: &HttpGrant) -> String {
    HttpPermission {
        host: g.host.clone(),
        scheme: g.scheme.clone(),
        port: g.port,
    }
    .to_string()
}

impl fmt::Display for Preopen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, host {})",
            self.guest,
            self.mode.as_str(),
            self.host.display()
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A plugin folder `root/p` with `permissions` (YAML) and a data folder
    /// `root/data`.
    struct Case {
        root: tempfile::TempDir,
    }

    impl Case {
        fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(root.path().join("p/shelf")).unwrap();
            std::fs::create_dir_all(root.path().join("data")).unwrap();
            std::fs::create_dir_all(root.path().join("outside")).unwrap();
            Self { root }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.root.path().join(rel)
        }

        fn grant(&self, permissions: &str, policy: &str) -> Result<Granted, GrantError> {
            self.grant_manifest(
                &format!("runtime: wasm\nwasm:\n  module: m.wasm\n  permissions: {permissions}\n"),
                policy,
            )
        }

        /// The same for a gRPC plugin: `grpc` is the rest of its section.
        fn grant_grpc(&self, grpc: &str, policy: &str) -> Result<Granted, GrantError> {
            self.grant_manifest(
                &format!("runtime: grpc\ngrpc:\n  binary: ./p\n{grpc}\n"),
                policy,
            )
        }

        /// What plugin `p`, with the rest of its manifest in `body`, gets
        /// under `policy` (JSON).
        fn grant_manifest(&self, body: &str, policy: &str) -> Result<Granted, GrantError> {
            let dir = self.path("p");
            std::fs::write(dir.join("plugin.yaml"), format!("name: p\n{body}")).unwrap();
            let manifest = Manifest::from_file(&dir).unwrap();
            let policy: PermissionPolicy = serde_json::from_str(policy).unwrap();
            HostGrants::new(policy)
                .with_data_dir(self.path("data"))
                .grant(&manifest)
        }
    }

    #[test]
    fn a_process_asking_nothing_gets_no_network_and_the_default_caps() {
        let case = Case::new();
        let granted = case.grant_grpc("", "{}").unwrap();
        assert_eq!(granted.process, Some(ProcessGrant::default()));
        assert!(granted.filesystem.is_empty());
        let lines = granted.describe(&Manifest::from_file(&case.path("p")).unwrap());
        assert!(lines.contains(&"network none".to_owned()), "{lines:?}");
        assert!(lines.contains(&"memory 1GiB".to_owned()), "{lines:?}");
    }

    #[test]
    fn a_process_gets_network_memory_and_variables_only_as_granted() {
        let case = Case::new();
        let ask = "  env: {RUST_LOG: debug}\n  permissions:\n    network: {connect: [5432]}\n    memory: {max: 2GiB}\n    processes: 64\n    filesystem: [{path: $DATA, mode: readwrite}]";
        let err = case.grant_grpc(ask, "{}").unwrap_err();
        assert_eq!(err.field, "grpc.permissions.network.connect[0]");
        assert_eq!(err.asked, "TCP port 5432");
        assert_eq!(err.reason, "the host grants no network");
        assert_eq!(err.setting, "plugins.permissions.plugins.p.tcp_connect");

        let policy = r#"{"plugins": {"p": {"tcp_connect": [5432], "process_memory": "1GiB"}}}"#;
        let err = case.grant_grpc(ask, policy).unwrap_err();
        assert_eq!(err.field, "grpc.permissions.memory.max");
        assert_eq!(err.reason, "the host grants at most 1GiB");

        let policy = r#"{"plugins": {"p": {"tcp_connect": [5432], "env": ["AWS_*"]}}}"#;
        let err = case.grant_grpc(ask, policy).unwrap_err();
        assert_eq!(err.field, "grpc.env.RUST_LOG");
        assert_eq!(err.setting, "plugins.permissions.plugins.p.env");

        let policy = r#"{"default": {"env": ["RUST_*"]}, "plugins": {"p": {"tcp_connect": [5432]}}, "confinement": "strict"}"#;
        let granted = case.grant_grpc(ask, policy).unwrap();
        let process = granted.process.unwrap();
        assert_eq!(granted.connect, [5432]);
        assert_eq!(process.memory, ByteSize::gib(2));
        assert_eq!(process.processes, 64);
        assert_eq!(process.env, [("RUST_LOG".to_owned(), "debug".to_owned())]);
        assert_eq!(process.enforcement, Enforcement::Strict);
        // A process sees its data folder at its host path.
        let data = std::fs::canonicalize(case.path("data/plugins/p")).unwrap();
        assert_eq!(granted.filesystem[0].host, data);
        assert_eq!(granted.filesystem[0].guest, data.to_string_lossy());
    }

    #[test]
    fn a_process_gets_udp_and_cpu_only_as_granted() {
        let case = Case::new();
        let ask = "  permissions:\n    network: {udp: true}\n    cpu: 0.5";
        let err = case.grant_grpc(ask, "{}").unwrap_err();
        assert_eq!(err.field, "grpc.permissions.network.udp");
        assert_eq!(err.asked, "UDP (to any address and port)");
        assert_eq!(err.reason, "the host grants no UDP");
        assert_eq!(err.setting, "plugins.permissions.plugins.p.udp");
        // TCP ports do not bring UDP with them.
        let err = case
            .grant_grpc(ask, r#"{"default": {"tcp_connect": [53]}}"#)
            .unwrap_err();
        assert_eq!(err.field, "grpc.permissions.network.udp");

        let policy = r#"{"default": {"udp": true, "process_cpu": 0.25}}"#;
        let err = case.grant_grpc(ask, policy).unwrap_err();
        assert_eq!(err.field, "grpc.permissions.cpu");
        assert_eq!(err.asked, "0.5 cores");
        assert_eq!(err.reason, "the host grants at most 0.25 cores");
        assert_eq!(err.setting, "plugins.permissions.plugins.p.process_cpu");

        let policy = r#"{"default": {"process_cpu": 0.25}, "plugins": {"p": {"udp": true, "process_cpu": 1}}}"#;
        let process = case.grant_grpc(ask, policy).unwrap().process.unwrap();
        assert!(process.udp);
        assert_eq!(process.cpu, Some(Cores::millis(500)));
        // Asking no cap gets the host's ceiling as its cap; no ceiling, no cap.
        let process = case.grant_grpc("", policy).unwrap().process.unwrap();
        assert_eq!(
            (process.udp, process.cpu),
            (false, Some(Cores::millis(1000)))
        );
        let process = case.grant_grpc("", "{}").unwrap().process.unwrap();
        assert_eq!(process.cpu, None);
    }

    #[test]
    fn a_wasm_guest_gets_sockets_only_as_granted() {
        let case = Case::new();
        let granted = case.grant("{}", "{}").unwrap();
        assert!(granted.connect.is_empty());
        let ask = "{network: {connect: [6379]}}";
        let err = case.grant(ask, "{}").unwrap_err();
        assert_eq!(err.field, "wasm.permissions.network.connect[0]");
        assert_eq!(err.reason, "the host grants no network");
        assert_eq!(err.setting, "plugins.permissions.plugins.p.tcp_connect");
        let granted = case
            .grant(ask, r#"{"plugins": {"p": {"tcp_connect": [6379]}}}"#)
            .unwrap();
        assert_eq!(granted.connect, [6379]);
        let lines = granted.describe(&Manifest::from_file(&case.path("p")).unwrap());
        assert!(
            lines.contains(&"network tcp connect to ports 6379".to_owned()),
            "{lines:?}"
        );
    }

    #[test]
    fn a_process_asking_for_folders_outside_is_refused_like_wasm() {
        let case = Case::new();
        let outside = case.path("outside").display().to_string();
        let ask = format!("  permissions:\n    filesystem: [{{path: '{outside}'}}]");
        let err = case.grant_grpc(&ask, "{}").unwrap_err();
        assert_eq!(err.field, "grpc.permissions.filesystem[0].path");
        let err = case
            .grant_grpc(
                &ask.replace(&outside, &case.path("data").display().to_string()),
                "{}",
            )
            .unwrap_err();
        assert!(err.reason.contains("the host's own data"), "{err}");
        let policy =
            format!(r#"{{"plugins": {{"p": {{"filesystem": [{{"path": "{outside}"}}]}}}}}}"#);
        assert!(case.grant_grpc(&ask, &policy).is_ok());
    }

    #[test]
    fn the_plugin_folder_and_data_folder_are_granted_by_default() {
        let case = Case::new();
        let granted = case
            .grant(
                "{filesystem: [{path: shelf}, {path: $DATA/cache, mode: readwrite}], http: [{host: api.example.com}]}",
                "{}",
            )
            .unwrap();
        let shelf = std::fs::canonicalize(case.path("p/shelf")).unwrap();
        assert_eq!(granted.filesystem[0].host, shelf);
        assert_eq!(granted.filesystem[0].guest, "shelf");
        assert_eq!(granted.filesystem[1].guest, "/data/cache");
        assert!(case.path("data/plugins/p/cache").is_dir(), "created");
        assert_eq!(granted.http[0].host, "api.example.com");
        assert!(granted.private_networks.is_empty());
    }

    #[test]
    fn paths_leading_out_are_refused_naming_the_field_and_setting() {
        let case = Case::new();
        std::os::unix::fs::symlink(case.path("outside"), case.path("p/link")).unwrap();
        let outside = case.path("outside").display().to_string();
        for ask in [
            "/",
            "..",
            "../outside",
            "shelf/../../outside",
            "link",
            &outside,
        ] {
            let err = case
                .grant(&format!("{{filesystem: [{{path: '{ask}'}}]}}"), "{}")
                .unwrap_err();
            assert_eq!(err.field, "wasm.permissions.filesystem[0].path", "{ask}");
            assert_eq!(
                err.setting, "plugins.permissions.plugins.p.filesystem",
                "{ask}"
            );
            assert!(err.asked.contains(ask), "{ask}: {err}");
        }
        // Granted by the policy, it is fine; asking to write a read grant is not.
        let policy =
            format!(r#"{{"plugins": {{"p": {{"filesystem": [{{"path": "{outside}"}}]}}}}}}"#);
        case.grant("{filesystem: [{path: link}]}", &policy).unwrap();
        let err = case
            .grant("{filesystem: [{path: link, mode: readwrite}]}", &policy)
            .unwrap_err();
        assert!(err.reason.contains("read only"), "{err}");
    }

    #[test]
    fn the_hosts_data_is_never_granted() {
        let case = Case::new();
        std::fs::create_dir_all(case.path("data/plugins/other")).unwrap();
        let data = case.path("data").display().to_string();
        let root = r#"{"default": {"filesystem": [{"path": "/", "mode": "readwrite"}]}}"#;
        for ask in [data.as_str(), "/"] {
            let err = case
                .grant(&format!("{{filesystem: [{{path: '{ask}'}}]}}"), root)
                .unwrap_err();
            assert!(err.setting.contains("never granted"), "{ask}: {err}");
        }
        for ask in ["$DATA/..", "$DATA/../other"] {
            let err = case
                .grant(&format!("{{filesystem: [{{path: '{ask}'}}]}}"), root)
                .unwrap_err();
            assert!(err.reason.contains("leads out of"), "{ask}: {err}");
        }
        // Its own data folder is the exception.
        case.grant("{filesystem: [{path: $DATA}]}", root).unwrap();
        // Without a data folder, $DATA cannot be granted at all.
        let manifest = Manifest::parse(
            "name: p\nruntime: wasm\nwasm: {module: m.wasm, permissions: {filesystem: [{path: $DATA}]}}",
        )
        .unwrap();
        let err = HostGrants::default().grant(&manifest).unwrap_err();
        assert!(err.reason.contains("no data folder"), "{err}");
    }

    #[test]
    fn nothing_is_created_before_the_check_passes() {
        let case = Case::new();
        let root = r#"{"default": {"filesystem": [{"path": "/", "mode": "readwrite"}]}}"#;
        for ask in ["$DATA/../../made", "$DATA/../made", "$DATA/a/../../../made"] {
            let err = case
                .grant(
                    &format!("{{filesystem: [{{path: '{ask}', mode: readwrite}}]}}"),
                    root,
                )
                .unwrap_err();
            assert!(err.reason.contains("leads out of"), "{ask}: {err}");
        }
        assert!(!case.path("made").exists());
        assert!(!case.path("data/made").exists());
        assert!(!case.path("data/plugins").exists(), "not even its own");
        // `check` judges without creating or opening anything.
        let dir = case.path("p");
        std::fs::write(
            dir.join("plugin.yaml"),
            "name: p\nruntime: wasm\nwasm: {module: m.wasm, permissions: {filesystem: [{path: $DATA/cache, mode: readwrite}]}}",
        )
        .unwrap();
        let manifest = Manifest::from_file(&dir).unwrap();
        let checked = HostGrants::default()
            .with_data_dir(case.path("data"))
            .check(&manifest)
            .unwrap();
        assert_eq!(checked.filesystem[0].guest, "/data/cache");
        assert!(checked.filesystem[0].dir.is_none());
        assert!(!case.path("data/plugins").exists());
    }

    #[test]
    fn a_plugin_never_writes_its_own_folder() {
        let case = Case::new();
        let own = case.path("p").display().to_string();
        let policy = format!(
            r#"{{"default": {{"filesystem": [{{"path": "{own}", "mode": "readwrite"}}]}}}}"#
        );
        for ask in [".", "shelf", own.as_str()] {
            let err = case
                .grant(
                    &format!("{{filesystem: [{{path: '{ask}', mode: readwrite}}]}}"),
                    &policy,
                )
                .unwrap_err();
            assert_eq!(err.setting, NEVER_OWN_FOLDER, "{ask}: {err}");
            assert!(err.reason.contains("own files"), "{ask}: {err}");
        }
        // Reading it is fine.
        for ask in [".", "shelf"] {
            case.grant(&format!("{{filesystem: [{{path: '{ask}'}}]}}"), &policy)
                .unwrap();
        }
        let err = case
            .grant_grpc(
                "  permissions:\n    filesystem: [{path: ., mode: readwrite}]",
                "{}",
            )
            .unwrap_err();
        assert_eq!(err.setting, NEVER_OWN_FOLDER, "{err}");
    }

    #[test]
    fn a_granted_folder_is_the_one_checked_whatever_its_path_names_later() {
        let case = Case::new();
        let ask =
            "{filesystem: [{path: $DATA, mode: readwrite}, {path: $DATA/x, mode: readwrite}]}";
        let granted = case.grant(ask, "{}").unwrap();
        let x = granted.filesystem[1].dir.clone().unwrap();
        std::fs::write(case.path("data/plugins/p/x/mine"), "checked").unwrap();
        // What a guest can do through its $DATA preopen: the folder goes,
        // a symlink to the root takes its place.
        std::fs::rename(
            case.path("data/plugins/p/x"),
            case.path("data/plugins/p/old"),
        )
        .unwrap();
        std::os::unix::fs::symlink("../../../../../../../..", case.path("data/plugins/p/x"))
            .unwrap();
        // This version's handle still names the folder that was checked.
        let seen = std::fs::read_to_string(x.reopen_path().join("mine")).unwrap();
        assert_eq!(seen, "checked");
        assert!(!x.reopen_path().join("etc").exists());
        // The next grant (a reload) checks again, and refuses the symlink.
        let err = case.grant(ask, "{}").unwrap_err();
        assert_eq!(err.field, "wasm.permissions.filesystem[1].path");
        assert!(err.reason.contains("symbolic link"), "{err}");
    }

    #[test]
    fn http_asks_must_be_covered_with_their_scheme_and_port() {
        let case = Case::new();
        let policy = r#"{"default": {"http": ["*.example.com", {"host": "127.0.0.1", "scheme": "http", "port": 8080}]}}"#;
        case.grant(
            "{http: [{host: a.example.com}, {host: '*.b.example.com'}]}",
            policy,
        )
        .unwrap();
        case.grant(
            "{http: [{host: 127.0.0.1, scheme: http, port: 8080}]}",
            policy,
        )
        .unwrap();
        for ask in [
            "{host: example.com}",
            "{host: '*'}",
            "{host: 127.0.0.1}",
            "{host: 127.0.0.1, scheme: http}",
            "{host: 127.0.0.1, scheme: https, port: 8080}",
        ] {
            let err = case
                .grant(
                    &format!("{{http: [{{host: a.example.com}}, {ask}]}}"),
                    policy,
                )
                .unwrap_err();
            assert_eq!(err.field, "wasm.permissions.http[1]", "{ask}");
            assert_eq!(err.setting, "plugins.permissions.plugins.p.http");
        }
        let err = case
            .grant(
                "{http: [{host: a.example.com}]}",
                r#"{"default": {"http": []}}"#,
            )
            .unwrap_err();
        assert!(err.reason.contains("grants no HTTP"), "{err}");
        // A plugin's own grant adds to the default.
        let own = r#"{"default": {"http": []}, "plugins": {"p": {"http": ["a.example.com"], "private_networks": ["10.0.0.0/8"]}}}"#;
        let granted = case.grant("{http: [{host: a.example.com}]}", own).unwrap();
        assert_eq!(granted.private_networks.len(), 1);
    }

    #[test]
    fn limits_are_held_to_the_policy() {
        let case = Case::new();
        let policy = r#"{"default": {"memory": "32MiB", "timeout": "1m", "max_instances": 8}, "plugins": {"p": {"memory": "128MiB"}}}"#;
        case.grant("{memory: {max: 128MiB}}", policy).unwrap();
        let err = case.grant("{memory: {max: 256MiB}}", policy).unwrap_err();
        assert_eq!(
            err.to_string(),
            "wasm.permissions.memory.max asks for 256MiB, which the host does not grant: \
             the host grants at most 128MiB; to allow it, set \
             plugins.permissions.plugins.p.memory in the host's configuration"
        );
        let err = case
            .grant("{execution: {timeout: 2m}}", policy)
            .unwrap_err();
        assert_eq!(err.field, "wasm.permissions.execution.timeout");
    }
}
