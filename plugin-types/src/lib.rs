//! Plain data shared by every layer of the plugin runtime.
//!
//! This crate owns the types that cross crate boundaries without carrying any
//! behaviour: the `plugins:` section of a host configuration
//! ([`PluginConfig`]), the business event plugins emit ([`DataEvent`]), and the
//! human duration format (`"30s"`, `"1m30s"`) used wherever a duration is
//! written by a person ([`duration`]), the HTTP shapes of host calls
//! ([`http`]), and the module / ability / provider wire shapes ([`module`]:
//! call context, message payloads, invoke results, OAuth tokens), byte
//! sizes ([`size`]), CPU shares ([`cores`]) and the permissions a host grants its plugins
//! ([`permissions`]).
//!
//! It has no internal dependencies and depends only on serde and small data
//! crates (`serde_json`, `chrono`, `humantime`, `base64`, `bytesize`, `ipnet`), so any crate — a host, a plugin
//! SDK, a tool — can use it without pulling in a runtime.

pub mod config;
pub mod confinement;
pub mod cores;
pub mod duration;
pub mod event;
pub mod http;
pub mod kv;
pub mod module;
pub mod permissions;
pub mod size;

pub use config::{PluginConfig, SourceConfig, WasmPooling, WasmSettings};
pub use confinement::{ConfinementReport, Measure};
pub use cores::Cores;
pub use event::DataEvent;
pub use http::{HostHttpRequest, HostHttpResponse};
pub use kv::{KvBackendKind, KvSettings};
pub use module::{CallContext, InvokeResult, MsgPayload, OAuthToken, Rules};
pub use permissions::{FsGrant, FsMode, Grant, HttpGrant, PermissionPolicy};
pub use size::ByteSize;
