//! `plugin.yaml`: what a plugin is, what it provides and how it runs.
//!
//! A manifest is plain data. [`Manifest::from_file`] (or [`Manifest::parse`]
//! for text, or [`Manifest::builder`] in code) reads it with the hardened YAML reader, applies the defaults of
//! [`limits`], checks every field and compiles the `config_schema`, so that a
//! manifest that loads is one a runner can use as it is. Every error names the
//! manifest and the field path:
//!
//! ```text
//! plugins/echo/plugin.yaml: wasm.permissions.memory.max: "64XB" is not a size; ...
//! ```
//!
//! The rules, beyond those of the Go original (name present; runtime `grpc` or
//! `wasm` with the matching section present, or a runtime the host
//! registered, whose section is kept for it to check):
//! - `name` is 1 to 64 characters of letters, digits, `-`, `_` and `.`,
//!   starting with a letter or digit (it names KV namespaces and log lines);
//! - the section of the other runtime must not be present;
//! - unknown fields are errors (a misspelt `memroy:` is not silently ignored);
//! - sizes, durations, pool bounds, FS modes and HTTP host patterns are
//!   parsed and range-checked ([`limits`] lists defaults and ranges);
//! - abilities name a capability and at least one operation, and no
//!   capability/operation pair is declared twice.

mod builder;
mod error;
mod grpc;
pub mod limits;
mod network;
mod wasm;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use builder::ManifestBuilder;
pub use error::{ManifestError, ManifestErrorKind};
pub use grpc::{
    Checksum, GrpcSection, GrpcTimeouts, ParseChecksumError, ProcessMemoryLimit,
    ProcessPermissions, Transport, reserved_env,
};
pub use network::NetworkPermission;
pub use wasm::{
    ExecutionLimit, FsMode, FsPermission, HttpPermission, InstancePool, MemoryLimit, ModuleBytes,
    WasmPermissions, WasmSection,
};

use crate::schema::{ConfigError, ConfigSchema};
use crate::yaml;
use error::FieldError;

/// The file name a plugin folder's manifest has.
pub const MANIFEST_FILE_NAME: &str = "plugin.yaml";

/// The parsed, validated `plugin.yaml` of one plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name, unique within a host.
    pub name: String,
    /// Its version (free text, usually semver).
    #[serde(default, deserialize_with = "string_or_number")]
    pub version: String,
    /// One line on what it does.
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    /// Who wrote it.
    #[serde(default, deserialize_with = "nullable")]
    pub author: String,
    /// The runtime that runs it: `wasm`, `grpc`, or one the host
    /// registered (see [`crate::runtime`]). Same characters as a name.
    pub runtime: String,
    /// What it implements.
    #[serde(default, deserialize_with = "nullable")]
    pub provides: Provides,
    /// Launch settings, for `runtime: grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcSection>,
    /// Module and sandbox settings, for `runtime: wasm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmSection>,
    /// The section named after a runtime other than `wasm` and `grpc`
    /// (`docker:` for `runtime: docker`), as written, for that runtime to
    /// read with [`Manifest::section`].
    #[serde(skip)]
    pub runtime_section: Option<Value>,
    /// JSON Schema the plugin's configuration must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<ConfigSchema>,
    /// The folder the manifest was read from (set by [`Manifest::from_file`]);
    /// a gRPC plugin runs with it as its working directory.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

/// The fields of a manifest, which no runtime may be named after (its
/// section would be one of them).
const FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "author",
    "runtime",
    "provides",
    "grpc",
    "wasm",
    "config_schema",
];

/// The `runtime:` of manifests for plugins run as WebAssembly in-process.
pub const WASM_RUNTIME: &str = "wasm";
/// The `runtime:` of manifests for plugins run as processes over gRPC.
pub const GRPC_RUNTIME: &str = "grpc";

/// What a plugin implements.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Provides {
    /// It is a chat module (command, form, rules, help...).
    pub module: bool,
    /// Capabilities it serves as an ability backend.
    #[serde(deserialize_with = "nullable")]
    pub abilities: Vec<AbilityDecl>,
    /// It is a webhook/OAuth provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderDecl>,
}

/// A capability a plugin serves, and the operations of it it implements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbilityDecl {
    /// The capability, e.g. `kanban`.
    pub capability: String,
    /// The operations implemented, e.g. `create_task`.
    #[serde(default, deserialize_with = "nullable")]
    pub operations: Vec<String>,
}

/// A provider a plugin implements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderDecl {
    /// The provider's name, e.g. `github`.
    pub name: String,
    /// Whether it implements the OAuth flow.
    #[serde(default)]
    pub oauth: bool,
}

impl Manifest {
    /// Parses and validates manifest text; errors name the origin `<input>`.
    ///
    /// Relative paths are left as written: use [`Manifest::from_file`] to
    /// resolve them against the manifest's folder.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        Self::parse_from(text, "<input>")
    }

    /// Parses and validates manifest text; errors name `origin`.
    pub fn parse_from(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let value = yaml::parse_value(text).map_err(|e| ManifestError::new(origin, e.into()))?;
        Self::from_value(value).map_err(|e| ManifestError::new(origin, e.into()))
    }

    /// Reads a `plugin.yaml`, or the `plugin.yaml` inside a folder, and
    /// resolves `wasm.module` and `grpc.binary` against its folder.
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let file = if path.is_dir() {
            path.join(MANIFEST_FILE_NAME)
        } else {
            path.to_path_buf()
        };
        let origin = file.display().to_string();
        let text = yaml::read_text(&file).map_err(|e| ManifestError::new(&origin, e.into()))?;
        let mut manifest = Self::parse_from(&text, &origin)?;
        let dir = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        manifest.resolve_paths(&dir);
        manifest.dir = Some(dir);
        Ok(manifest)
    }

    /// Makes relative artifact paths relative to `dir` instead.
    fn resolve_paths(&mut self, dir: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        };
        // A module given as bytes is not a file: its name stays as given.
        if let Some(wasm) = &mut self.wasm
            && wasm.module_bytes.is_none()
        {
            resolve(&mut wasm.module);
        }
        if let Some(grpc) = &mut self.grpc {
            resolve(&mut grpc.binary);
        }
    }

    fn from_value(value: Value) -> Result<Self, FieldError> {
        match &value {
            Value::Object(_) => {}
            Value::Null => return Err(FieldError::new("(document)", "the manifest is empty")),
            other => {
                return Err(FieldError::new(
                    "(document)",
                    format!("a manifest is a mapping of fields, not {other}"),
                ));
            }
        }
        let mut value = value;
        // The section of a runtime this crate does not know is kept as
        // written, for that runtime to check; every other unknown field is
        // an error.
        let runtime_section = match &mut value {
            Value::Object(fields) => match fields.get("runtime") {
                Some(Value::String(runtime)) if !FIELDS.contains(&runtime.as_str()) => {
                    let runtime = runtime.clone();
                    fields.remove(&runtime)
                }
                _ => None,
            },
            _ => None,
        };
        let mut manifest: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            // serde reports a missing field at its parent: point at the field.
            if let Some(name) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.strip_suffix('`'))
            {
                return FieldError::new(join_path(&path, name), "is required");
            }
            FieldError::new(
                if path == "." {
                    "(document)".into()
                } else {
                    path
                },
                message,
            )
        })?;
        manifest.runtime_section = runtime_section;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), FieldError> {
        check_name(&self.name).map_err(|m| FieldError::new("name", m))?;
        check_name(&self.runtime).map_err(|m| {
            FieldError::new("runtime", m.replace("a plugin name", "a runtime name"))
        })?;
        let runtime = self.runtime.as_str();
        if runtime != WASM_RUNTIME && runtime != GRPC_RUNTIME && FIELDS.contains(&runtime) {
            return Err(FieldError::new(
                "runtime",
                format!("{runtime:?} names a manifest field, not a runtime"),
            ));
        }
        let unused = |section: &str| {
            FieldError::new(
                section,
                format!("is not used by runtime {runtime}; remove it"),
            )
        };
        match runtime {
            GRPC_RUNTIME if self.grpc.is_none() => {
                return Err(FieldError::new("grpc", "is required for runtime grpc"));
            }
            WASM_RUNTIME if self.wasm.is_none() => {
                return Err(FieldError::new("wasm", "is required for runtime wasm"));
            }
            _ => {}
        }
        if runtime != GRPC_RUNTIME && self.grpc.is_some() {
            return Err(unused("grpc"));
        }
        if runtime != WASM_RUNTIME && self.wasm.is_some() {
            return Err(unused("wasm"));
        }
        if let Some(grpc) = &self.grpc {
            grpc.validate()?;
        }
        if let Some(wasm) = &self.wasm {
            wasm.validate()?;
        }
        self.provides.validate()
    }

    /// The section of the manifest named after its runtime (`docker:` for
    /// `runtime: docker`), read as `T` (a runtime's own settings type; make
    /// it `deny_unknown_fields` to keep the manifest strict). `None` when the
    /// manifest has no such section. An error names the manifest and the
    /// field.
    pub fn section<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, ManifestError> {
        let Some(section) = &self.runtime_section else {
            return Ok(None);
        };
        serde_path_to_error::deserialize(section.clone())
            .map(Some)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    self.runtime.clone()
                } else {
                    join_path(&self.runtime, &path)
                };
                self.error(field, e.inner().to_string())
            })
    }

    /// An error about `field` of this manifest, naming the manifest (its
    /// file, when it was read from one) and the field: what a runtime's
    /// [`check`](crate::Runtime::check) returns.
    pub fn error(&self, field: impl Into<String>, message: impl Into<String>) -> ManifestError {
        let origin = match &self.dir {
            Some(dir) => dir.join(MANIFEST_FILE_NAME).display().to_string(),
            None => "<input>".to_owned(),
        };
        ManifestError::new(
            origin,
            ManifestErrorKind::Field {
                field: field.into(),
                message: message.into(),
            },
        )
    }

    /// Checks a configuration for this plugin against its `config_schema`,
    /// reporting every violation with its JSON pointer. Without a schema any
    /// configuration is accepted.
    pub fn validate_config(&self, config: &Value) -> Result<(), ConfigError> {
        match &self.config_schema {
            None => Ok(()),
            Some(schema) => schema.validate(config).map_err(|violations| ConfigError {
                plugin: self.name.clone(),
                violations,
            }),
        }
    }
}

impl Provides {
    fn validate(&self) -> Result<(), FieldError> {
        let mut seen = HashSet::new();
        for (i, ability) in self.abilities.iter().enumerate() {
            let at = format!("provides.abilities[{i}]");
            if ability.capability.trim().is_empty() {
                return Err(FieldError::new(
                    format!("{at}.capability"),
                    "must not be empty",
                ));
            }
            if ability.operations.is_empty() {
                return Err(FieldError::new(
                    format!("{at}.operations"),
                    "must list at least one operation",
                ));
            }
            for (j, operation) in ability.operations.iter().enumerate() {
                let field = format!("{at}.operations[{j}]");
                if operation.trim().is_empty() {
                    return Err(FieldError::new(field, "must not be empty"));
                }
                if !seen.insert((ability.capability.as_str(), operation.as_str())) {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "operation {operation:?} of capability {:?} is declared twice",
                            ability.capability
                        ),
                    ));
                }
            }
        }
        if let Some(provider) = &self.provider
            && provider.name.trim().is_empty()
        {
            return Err(FieldError::new(
                "provides.provider.name",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let valid_start = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if name.len() > limits::MAX_NAME_LEN || !valid_chars || !valid_start {
        return Err(format!(
            "{name:?} is not a plugin name: use 1 to {} letters, digits, '-', '_' or '.', \
             starting with a letter or digit",
            limits::MAX_NAME_LEN
        ));
    }
    Ok(())
}

fn join_path(parent: &str, child: &str) -> String {
    if parent == "." {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// Reads `null` (an empty YAML value such as `permissions:`) as the default.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads a version written as a string or, unquoted in YAML, as a number.
fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error as _;
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(number) => Ok(number.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(D::Error::custom(format!(
            "a version is a string such as \"1.2.0\", not {other}"
        ))),
    }
}
