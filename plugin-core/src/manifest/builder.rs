//! [`ManifestBuilder`]: a manifest written in code.
//!
//! The builder writes the same document a `plugin.yaml` holds and hands it
//! to the same reader, so a built manifest gets exactly the defaults and
//! checks a parsed one does, and fails with the same field errors. YAML is
//! one way to write that document; this is another.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::Manifest;
use super::error::{FieldError, ManifestError};

/// What a built manifest's errors name as its origin.
const ORIGIN: &str = "<built in code>";

/// Writes a [`Manifest`] in code; see [`Manifest::builder`].
///
/// ```
/// use plugin_core::Manifest;
///
/// let manifest = Manifest::builder("echo", "1.0.0")
///     .wasm_module("/srv/plugins/echo/echo.wasm")
///     .provides_module()
///     .ability("greeting", ["greet"])
///     .build()
///     .unwrap();
/// assert_eq!(manifest.runtime, "wasm");
/// assert_eq!(manifest.wasm.unwrap().pool.max_instances, 4); // the default
/// ```
#[derive(Debug, Clone)]
pub struct ManifestBuilder {
    document: Map<String, Value>,
    dir: Option<PathBuf>,
    /// The wasm module, when given as bytes.
    module_bytes: Option<super::ModuleBytes>,
    /// The first value that cannot be written as a manifest holds it
    /// (a path that is not UTF-8), with its field.
    error: Option<(String, String)>,
}

impl Manifest {
    /// A manifest for plugin `name` at `version`, written in code; name
    /// how it runs ([`wasm_module`](ManifestBuilder::wasm_module),
    /// [`grpc_binary`](ManifestBuilder::grpc_binary) or
    /// [`runtime`](ManifestBuilder::runtime)) and what it provides, then
    /// [`build`](ManifestBuilder::build) it.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ManifestBuilder {
        let mut document = Map::new();
        document.insert("name".into(), Value::String(name.into()));
        document.insert("version".into(), Value::String(version.into()));
        ManifestBuilder {
            document,
            dir: None,
            module_bytes: None,
            error: None,
        }
    }
}

impl ManifestBuilder {
    /// One line on what the plugin does (`description`).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.document
            .insert("description".into(), Value::String(text.into()));
        self
    }

    /// Who wrote it (`author`).
    pub fn author(mut self, text: impl Into<String>) -> Self {
        self.document
            .insert("author".into(), Value::String(text.into()));
        self
    }

    /// Runs it as the wasm module at `path` (`runtime: wasm`,
    /// `wasm.module`); other `wasm:` settings keep their defaults unless
    /// given with [`runtime`](Self::runtime).
    pub fn wasm_module(self, path: impl AsRef<Path>) -> Self {
        self.artifact("wasm", "module", path.as_ref())
    }

    /// Runs it as the wasm module `bytes` (`runtime: wasm`), with no file:
    /// `name` stands for the module in errors. The bytes are held to the
    /// host's `max_artifact_size` and compiled (and cached) as a file's
    /// would be.
    pub fn wasm_bytes(mut self, name: &str, bytes: impl Into<super::ModuleBytes>) -> Self {
        self.module_bytes = Some(bytes.into());
        self.artifact("wasm", "module", Path::new(name))
    }

    /// Runs it as the executable at `path`, spoken to over gRPC
    /// (`runtime: grpc`, `grpc.binary`).
    pub fn grpc_binary(self, path: impl AsRef<Path>) -> Self {
        self.artifact("grpc", "binary", path.as_ref())
    }

    /// Runs it on `runtime`, with `settings` (a mapping, as under the
    /// manifest's `<runtime>:` key) merged into that section: for example
    /// `runtime("wasm", json!({"permissions": {"memory": {"max": "16MiB"}}}))`.
    pub fn runtime(mut self, runtime: &str, settings: Value) -> Self {
        self.document
            .insert("runtime".into(), Value::String(runtime.into()));
        match settings {
            Value::Object(settings) => {
                edit(&mut self.document, runtime, |section| {
                    section.extend(settings)
                });
            }
            other => {
                self.document.insert(runtime.into(), other);
            }
        }
        self
    }

    /// It is a chat module (`provides.module`).
    pub fn provides_module(mut self) -> Self {
        edit(&mut self.document, "provides", |provides| {
            provides.insert("module".into(), Value::Bool(true));
        });
        self
    }

    /// It serves `operations` of `capability` as an ability backend (an
    /// entry of `provides.abilities`).
    pub fn ability<I, S>(mut self, capability: impl Into<String>, operations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let operations: Vec<String> = operations.into_iter().map(Into::into).collect();
        let ability = json!({"capability": capability.into(), "operations": operations});
        edit(&mut self.document, "provides", |provides| {
            let abilities = provides
                .entry("abilities")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(abilities) = abilities {
                abilities.push(ability);
            }
        });
        self
    }

    /// It is the webhook provider `name`, implementing the OAuth flow if
    /// `oauth` (`provides.provider`).
    pub fn provider(mut self, name: impl Into<String>, oauth: bool) -> Self {
        let provider = json!({"name": name.into(), "oauth": oauth});
        edit(&mut self.document, "provides", |provides| {
            provides.insert("provider".into(), provider);
        });
        self
    }

    /// The JSON Schema its configuration must match (`config_schema`).
    pub fn config_schema(mut self, schema: Value) -> Self {
        self.document.insert("config_schema".into(), schema);
        self
    }

    /// Its folder, as if the manifest were read from a file there: relative
    /// artifact paths are resolved against it, and a gRPC plugin runs in it.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The manifest, checked as a parsed one is; errors name the field.
    pub fn build(self) -> Result<Manifest, ManifestError> {
        if let Some((field, message)) = self.error {
            return Err(ManifestError::new(
                ORIGIN,
                FieldError::new(field, message).into(),
            ));
        }
        let mut manifest = Manifest::from_value(Value::Object(self.document))
            .map_err(|e| ManifestError::new(ORIGIN, e.into()))?;
        if let (Some(bytes), Some(wasm)) = (self.module_bytes, &mut manifest.wasm) {
            wasm.module_bytes = Some(bytes);
        }
        if let Some(dir) = self.dir {
            manifest.resolve_paths(&dir);
            manifest.dir = Some(dir);
        }
        Ok(manifest)
    }

    /// Sets `runtime` and `<runtime>.<field>` to `path`.
    fn artifact(mut self, runtime: &str, field: &str, path: &Path) -> Self {
        self.document
            .insert("runtime".into(), Value::String(runtime.into()));
        let value = match path.to_str() {
            Some(text) => Value::String(text.into()),
            None => {
                self.error.get_or_insert_with(|| {
                    (
                        format!("{runtime}.{field}"),
                        format!(
                            "{} is not UTF-8, which a manifest cannot hold",
                            path.display()
                        ),
                    )
                });
                return self;
            }
        };
        edit(&mut self.document, runtime, |section| {
            section.insert(field.into(), value);
        });
        self
    }
}

/// Edits the mapping under `key`, made (or made a mapping) if it is not one.
fn edit(document: &mut Map<String, Value>, key: &str, edit: impl FnOnce(&mut Map<String, Value>)) {
    let mut map = match document.remove(key) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    edit(&mut map);
    document.insert(key.into(), Value::Object(map));
}
