//! A plugin's `config_schema`: compiled once, checked on every start.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use serde_json::Value;

/// A compiled JSON Schema for a plugin's configuration.
///
/// The schema is compiled (and checked against its meta-schema) when it is
/// created, so a manifest with a broken schema fails at load, not at the first
/// start. Only in-document references are resolved: a schema never makes the
/// host fetch files or URLs. The draft is taken from `$schema`, defaulting to
/// 2020-12.
#[derive(Clone)]
pub struct ConfigSchema {
    source: Value,
    validator: Arc<jsonschema::Validator>,
}

/// A schema that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON Schema: {0}")]
pub struct SchemaError(String);

impl ConfigSchema {
    /// Compiles `schema`.
    pub fn compile(schema: Value) -> Result<Self, SchemaError> {
        if !schema.is_object() && !schema.is_boolean() {
            return Err(SchemaError(format!(
                "a schema is an object or a boolean, not {}",
                json_type(&schema)
            )));
        }
        let validator = jsonschema::validator_for(&schema).map_err(|e| {
            let at = e.instance_path().as_str();
            if at.is_empty() {
                SchemaError(e.to_string())
            } else {
                SchemaError(format!("at {at}: {e}"))
            }
        })?;
        Ok(Self {
            source: schema,
            validator: Arc::new(validator),
        })
    }

    /// The schema as written.
    pub fn as_value(&self) -> &Value {
        &self.source
    }

    /// Checks `config` against the schema, reporting every violation.
    pub fn validate(&self, config: &Value) -> Result<(), Vec<Violation>> {
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(config)
            .map(|e| Violation {
                pointer: e.instance_path().as_str().to_owned(),
                message: e.to_string(),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

/// One way a config breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer to the offending value (`""` is the whole config).
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// A plugin configuration rejected by the plugin's `config_schema`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin}: config does not match config_schema: {}", join(.violations))]
pub struct ConfigError {
    /// The plugin whose config was rejected.
    pub plugin: String,
    /// Every violation found, in schema order.
    pub violations: Vec<Violation>,
}

fn join(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(Violation::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl fmt::Debug for ConfigSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConfigSchema").field(&self.source).finish()
    }
}

impl PartialEq for ConfigSchema {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for ConfigSchema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ConfigSchema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::compile(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> ConfigSchema {
        ConfigSchema::compile(json!({
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": {"type": "string", "minLength": 4},
                "port": {"type": "integer", "maximum": 65535},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn accepts_a_matching_config() {
        schema()
            .validate(&json!({"token": "abcd", "port": 80, "tags": ["a"]}))
            .unwrap();
    }

    #[test]
    fn reports_every_violation_with_its_pointer() {
        let violations = schema()
            .validate(&json!({"port": "http", "tags": ["ok", 7], "extra": 1}))
            .unwrap_err();
        let pointers: Vec<&str> = violations.iter().map(|v| v.pointer.as_str()).collect();
        for expected in ["", "/port", "/tags/1"] {
            assert!(
                pointers.contains(&expected),
                "{expected:?} in {violations:?}"
            );
        }
        assert!(violations.len() >= 4, "{violations:?}");
        let error = ConfigError {
            plugin: "echo".into(),
            violations,
        };
        let text = error.to_string();
        assert!(text.starts_with("plugin echo: config does not match config_schema: "));
        assert!(
            text.contains("/port: \"http\" is not of type \"integer\""),
            "{text}"
        );
        assert!(
            text.contains("(root): \"token\" is a required property"),
            "{text}"
        );
    }

    #[test]
    fn a_broken_schema_fails_to_compile() {
        for bad in [
            json!({"type": "strnig"}),
            json!({"properties": {"a": {"minLength": -1}}}),
            json!({"$ref": "#/definitions/missing"}),
            json!("not a schema"),
            json!(42),
        ] {
            let err = ConfigSchema::compile(bad.clone()).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid JSON Schema"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn never_fetches_remote_references() {
        let err =
            ConfigSchema::compile(json!({"$ref": "https://example.invalid/s.json"})).unwrap_err();
        assert!(err.to_string().starts_with("invalid JSON Schema"), "{err}");
    }

    #[test]
    fn boolean_schemas_work() {
        ConfigSchema::compile(json!(true))
            .unwrap()
            .validate(&json!(1))
            .unwrap();
        assert!(
            ConfigSchema::compile(json!(false))
                .unwrap()
                .validate(&json!(1))
                .is_err()
        );
    }
}
