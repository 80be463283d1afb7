//! Errors from reading and validating a manifest.

use std::fmt;

use crate::yaml::YamlError;

/// A manifest that could not be read or is invalid.
///
/// Its message names where the manifest came from and, for content errors,
/// the field path: `plugins/echo/plugin.yaml: wasm.permissions.memory.max:
/// "64XB" is not a size; ...`.
#[derive(Debug)]
pub struct ManifestError {
    origin: String,
    kind: ManifestErrorKind,
}

/// What is wrong with a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestErrorKind {
    /// The text could not be read or is not acceptable YAML.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A field is missing, malformed or out of range.
    #[error("{field}: {message}")]
    Field {
        /// Dotted path of the field, e.g. `wasm.pool.max_instances`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ManifestError {
    pub(crate) fn new(origin: impl Into<String>, kind: ManifestErrorKind) -> Self {
        Self {
            origin: origin.into(),
            kind,
        }
    }

    /// Where the manifest came from: its file path, or `<input>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What is wrong.
    pub fn kind(&self) -> &ManifestErrorKind {
        &self.kind
    }

    /// The path of the offending field, when the error is about one.
    pub fn field(&self) -> Option<&str> {
        match &self.kind {
            ManifestErrorKind::Field { field, .. } => Some(field),
            ManifestErrorKind::Yaml(_) => None,
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.kind)
    }
}

impl std::error::Error for ManifestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ManifestErrorKind::Yaml(e) => e.source(),
            ManifestErrorKind::Field { .. } => None,
        }
    }
}

/// A field-level problem, before the origin is known.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<FieldError> for ManifestErrorKind {
    fn from(e: FieldError) -> Self {
        Self::Field {
            field: e.field,
            message: e.message,
        }
    }
}
