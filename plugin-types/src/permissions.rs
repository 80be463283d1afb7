//! The `permissions:` part of the `plugins:` section: what the host grants.
//!
//! A plugin's manifest *asks* for permissions; the host *grants* them. What a
//! plugin gets is what it asks, provided every ask is within what the host
//! grants it; an ask beyond that is refused at load, never narrowed. The
//! checks live in `plugin-core` (`grant`); this is the plain data an operator
//! writes:
//!
//! ```yaml
//! permissions:
//!   default:                  # every plugin, unless its own entry says more
//!     http: ["*"]             # omitted: any host on a public address
//!     memory: 128MiB          # the largest wasm.permissions.memory.max asked
//!     timeout: 1m             # the longest call: wasm.permissions.execution.timeout, grpc.timeouts.call
//!     max_instances: 8        # the largest wasm.pool.max_instances
//!   plugins:
//!     weather:                # grants on top of the default, for one plugin
//!       filesystem: [{ path: /srv/maps, mode: read }]
//!       http: [api.weather.example, { host: 127.0.0.1, scheme: http, port: 8080 }]
//!       private_networks: [127.0.0.0/8]   # addresses it may reach that are not public
//!     indexer:                # a process (gRPC) plugin
//!       tcp_connect: [5432]   # TCP ports it may connect to (any address)
//!       udp: true             # UDP sockets, to any address and port
//!       process_memory: 2GiB  # the largest grpc.permissions.memory.max
//!       processes: 512        # the largest grpc.permissions.processes
//!       process_cpu: 2        # the largest grpc.permissions.cpu, in cores
//!       env: [RUST_LOG, "INDEXER_*"]  # what grpc.env may set; omitted: any name
//!       max_artifact_size: 512MiB  # the largest grpc.binary (or wasm.module) it reads
//!   confinement: strict       # a confinement the kernel cannot apply fails the load
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};

use crate::cores::Cores;
use crate::size::ByteSize;

/// What the host grants its plugins: a ceiling for all, and more for some.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PermissionPolicy {
    /// What any plugin may be granted.
    pub default: Grant,
    /// What one plugin may be granted beyond [`default`](Self::default), by
    /// plugin name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub plugins: BTreeMap<String, Grant>,
    /// What happens when the kernel lacks a mechanism that confines process
    /// plugins (Landlock, seccomp, a cgroup): a warning, or a refusal.
    pub confinement: Enforcement,
}

/// Whether confining a process plugin is best effort or required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// A mechanism the kernel lacks is logged as a warning; the plugin runs
    /// with what could be applied.
    #[default]
    Warn,
    /// A mechanism the kernel lacks fails the plugin's load, naming it.
    Strict,
    /// No confinement by the kernel: only the scrubbed environment, no core
    /// dumps and no new privileges. For hosts that confine their plugins by
    /// other means (a container per plugin) and for measuring; warned about
    /// at every launch.
    Off,
}

/// Where the permission policy sits in a host configuration file.
pub const POLICY_SETTING: &str = "plugins.permissions";

impl PermissionPolicy {
    /// The path, in a host configuration file, of setting `what` of the
    /// grant of `plugin` (`plugins.permissions.plugins.NAME.what`): what a
    /// refusal names as the setting that would allow what was asked.
    pub fn setting(plugin: &str, what: &str) -> String {
        format!("{POLICY_SETTING}.plugins.{plugin}.{what}")
    }

    /// The path, in a host configuration file, of setting `what` of the
    /// grant every plugin gets (`plugins.permissions.default.what`).
    pub fn default_setting(what: &str) -> String {
        format!("{POLICY_SETTING}.default.{what}")
    }

    /// The path, in a host configuration file, of a setting of the policy
    /// itself (`plugins.permissions.confinement`).
    pub fn policy_setting(what: &str) -> String {
        format!("{POLICY_SETTING}.{what}")
    }

    /// The `max_artifact_size` that holds for `plugin`: its own entry's,
    /// else the default's; `None` when neither sets one.
    pub fn max_artifact_size(&self, plugin: &str) -> Option<ByteSize> {
        self.plugins
            .get(plugin)
            .and_then(|grant| grant.max_artifact_size)
            .or(self.default.max_artifact_size)
    }
}

impl Enforcement {
    /// `warn` or `strict`, as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Strict => "strict",
            Self::Off => "off",
        }
    }
}

/// One set of grants. Lists add up (the default's and the plugin's own);
/// a plugin's own limit replaces the default's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grant {
    /// Host folders a manifest may ask for, beyond the plugin's own folder
    /// and data folder (which are always grantable). Absolute paths.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filesystem: Vec<FsGrant>,
    /// HTTP destinations a manifest may ask for. Absent: any host (on a
    /// public address unless `private_networks` says otherwise); `[]`: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Vec<HttpGrant>>,
    /// Networks that are not public (loopback, private, link-local...) the
    /// plugin's HTTP requests may reach, as CIDR blocks (`127.0.0.0/8`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub private_networks: Vec<IpNet>,
    /// The largest `memory.max` a manifest may ask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// The longest call a manifest may ask: its
    /// `wasm.permissions.execution.timeout` or its `grpc.timeouts.call`.
    #[serde(
        with = "crate::duration::serde_opt_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// The largest `pool.max_instances` a manifest may ask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
    /// TCP ports a process plugin's manifest may ask to connect to
    /// (`grpc.permissions.network.connect`), on any address: the kernel
    /// filters TCP by port. None by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_connect: Vec<u16>,
    /// Whether a process plugin's manifest may ask for UDP
    /// (`grpc.permissions.network.udp`): sockets to any address and port,
    /// since the kernel cannot filter UDP by port (DNS is the usual reason).
    /// Either the default's or the plugin's own grants it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub udp: bool,
    /// The largest `grpc.permissions.memory.max` a manifest may ask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_memory: Option<ByteSize>,
    /// The largest `grpc.permissions.processes` a manifest may ask.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u32>,
    /// The largest `grpc.permissions.cpu` a manifest may ask, in cores; it is
    /// also the cap of a plugin that asks none. Absent: no ceiling, and no
    /// cap unless asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_cpu: Option<Cores>,
    /// Variables `grpc.env` may set: names, or prefixes ending in `*`.
    /// Absent: any name but those the host sets itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The largest plugin code (`wasm.module`, `grpc.binary`) the host
    /// reads; absent: the host's default (256 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_artifact_size: Option<ByteSize>,
}

/// A host folder that may be granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsGrant {
    /// The folder (absolute); what is inside it may be granted too.
    pub path: PathBuf,
    /// `read` (the default): only read access may be granted; `readwrite`:
    /// either.
    #[serde(default)]
    pub mode: FsMode,
}

/// Access to a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsMode {
    /// Files can be listed and read, not written.
    #[default]
    Read,
    /// Files can be read, written, created and removed.
    ReadWrite,
}

impl FsMode {
    /// `read` or `readwrite`, as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "readwrite",
        }
    }
}

/// An HTTP destination that may be granted: a host pattern (`api.example.com`,
/// `*.example.com`, `*`), optionally held to one scheme and one port.
/// Written as the bare host or as a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpGrant {
    /// The host pattern.
    pub host: String,
    /// `http` or `https`; absent: either.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// The port; absent: any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl<'de> Deserialize<'de> for HttpGrant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            host: String,
            #[serde(default)]
            scheme: Option<String>,
            #[serde(default)]
            port: Option<u16>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Host(String),
            Full(Full),
        }
        Ok(match Written::deserialize(deserializer)? {
            Written::Host(host) => Self {
                host,
                scheme: None,
                port: None,
            },
            Written::Full(Full { host, scheme, port }) => Self { host, scheme, port },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_shape() {
        let yaml = "
default:
  http: ['*']
  memory: 128MiB
  timeout: 1m
  max_instances: 8
plugins:
  weather:
    filesystem: [{ path: /srv/maps, mode: readwrite }]
    http: [api.weather.example, { host: 127.0.0.1, scheme: http, port: 8080 }]
    private_networks: [127.0.0.0/8, '::1/128']
  indexer:
    tcp_connect: [5432]
    udp: true
    process_memory: 2GiB
    processes: 512
    process_cpu: 1.5
    env: [RUST_LOG, 'INDEXER_*']
    max_artifact_size: 512MiB
confinement: strict
";
        let policy: PermissionPolicy = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(policy.default.memory, Some(ByteSize::mib(128)));
        assert_eq!(policy.default.timeout, Some(Duration::from_secs(60)));
        let weather = &policy.plugins["weather"];
        assert_eq!(weather.filesystem[0].mode, FsMode::ReadWrite);
        let http = weather.http.as_ref().unwrap();
        assert_eq!(http[0].host, "api.weather.example");
        assert_eq!(http[1].port, Some(8080));
        assert_eq!(weather.private_networks.len(), 2);
        let indexer = &policy.plugins["indexer"];
        assert_eq!(indexer.tcp_connect, [5432]);
        assert_eq!(indexer.process_memory, Some(ByteSize::gib(2)));
        assert_eq!(indexer.processes, Some(512));
        assert!(indexer.udp && !weather.udp);
        assert_eq!(indexer.process_cpu, Some(Cores::millis(1500)));
        assert_eq!(indexer.env.as_deref().map(<[String]>::len), Some(2));
        assert_eq!(
            policy.max_artifact_size("indexer"),
            Some(ByteSize::mib(512))
        );
        assert_eq!(policy.max_artifact_size("weather"), None);
        assert_eq!(policy.confinement, Enforcement::Strict);
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(
            serde_json::from_str::<PermissionPolicy>(&json).unwrap(),
            policy
        );
    }

    #[test]
    fn refuses_bad_networks_and_unknown_fields() {
        let err = serde_json::from_str::<Grant>(r#"{"private_networks": ["10.0.0/8"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid IP address"), "{err}");
        assert!(serde_json::from_str::<Grant>(r#"{"htp": []}"#).is_err());
    }
}
