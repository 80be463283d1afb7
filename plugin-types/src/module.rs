//! The JSON shapes a host and a plugin exchange through module, ability and
//! provider calls: the call context, message payloads, ability results and
//! OAuth tokens, field for field as flowbot's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Kv;

/// Who and where a module call comes from (flowbot SDK's `Context`). Fields
/// this crate does not know are kept in `extra`, so nothing a host sends is
/// lost on the way to the plugin.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CallContext {
    /// The authenticated session, opaque to plugins.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_context: String,
    /// The user.
    pub user_id: String,
    /// The channel or conversation.
    pub channel_id: String,
    /// The chat platform (`slack`, `discord`...).
    pub platform: String,
    /// Free-form string metadata.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Kv,
}

/// A message a module answers with.
///
/// On the wire it is a JSON object, optionally tagged with flowbot's `_type`
/// (`TextMsg`, `KVMsg`, `LinkMsg`, `TableMsg`, `InfoMsg`, `ChartMsg`...).
/// Reading follows flowbot's adapter: a `_type` tag decides; untagged, an
/// object with a non-empty `text` string is a text message, and any other
/// object is a key-value message. Anything but an object is an error.
#[derive(Debug, Clone, PartialEq)]
pub enum MsgPayload {
    /// `TextMsg`: plain text.
    Text(String),
    /// `KVMsg`: key-value pairs (the `_type` tag removed).
    Kv(Kv),
    /// Another tagged message type, kept as written (tag removed).
    Typed {
        /// The `_type` tag, e.g. `LinkMsg`.
        kind: String,
        /// Its fields.
        fields: Kv,
    },
}

/// A value that is not a message payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError(String);

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a message payload: {}", self.0)
    }
}

impl std::error::Error for PayloadError {}

impl MsgPayload {
    /// Reads a payload from a plugin's JSON answer.
    pub fn from_json(value: Value) -> Result<Self, PayloadError> {
        let Value::Object(mut object) = value else {
            return Err(PayloadError(format!("want a JSON object, got {value}")));
        };
        match object.remove("_type") {
            Some(Value::String(kind)) => Ok(match kind.as_str() {
                "TextMsg" => Self::Text(text_field(&object).unwrap_or_default()),
                "KVMsg" => Self::Kv(object),
                _ => Self::Typed {
                    kind,
                    fields: object,
                },
            }),
            Some(other) => Err(PayloadError(format!("_type must be a string, got {other}"))),
            None => Ok(match text_field(&object) {
                Some(text) if !text.is_empty() => Self::Text(text),
                _ => Self::Kv(object),
            }),
        }
    }

    /// The payload as flowbot writes it, tagged with `_type`.
    pub fn to_json(&self) -> Value {
        let (kind, mut fields) = match self {
            Self::Text(text) => {
                let mut fields = Kv::new();
                fields.insert("text".into(), Value::String(text.clone()));
                ("TextMsg".to_owned(), fields)
            }
            Self::Kv(fields) => ("KVMsg".to_owned(), fields.clone()),
            Self::Typed { kind, fields } => (kind.clone(), fields.clone()),
        };
        fields.insert("_type".into(), Value::String(kind));
        Value::Object(fields)
    }
}

impl Serialize for MsgPayload {
    /// Writes [`MsgPayload::to_json`].
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MsgPayload {
    /// Reads as [`MsgPayload::from_json`].
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

fn text_field(object: &Kv) -> Option<String> {
    object
        .get("text")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A module's rulesets, as flowbot's adapter reads them: a JSON array whose
/// items the host's rule engine interprets.
pub type Rules = Vec<Value>;

/// The result of invoking an ability operation (flowbot's
/// `capability.InvokeResult`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InvokeResult {
    /// The capability invoked.
    pub capability: String,
    /// The operation invoked.
    pub operation: String,
    /// The operation's data.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// Paging information, for list operations.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub page: Value,
    /// A human summary.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Free-form metadata.
    #[serde(skip_serializing_if = "Kv::is_empty")]
    pub meta: Kv,
    /// Events the operation produced.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Value>,
    /// The resource the result describes.
    #[serde(rename = "_resource", skip_serializing_if = "Value::is_null")]
    pub resource: Value,
}

/// An OAuth token a provider plugin obtained (flowbot's
/// `providers.OAuthToken`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuthToken {
    /// The provider's name.
    pub name: String,
    /// The token kind, as the provider names it.
    #[serde(rename = "type")]
    pub kind: String,
    /// The access token.
    pub access_token: String,
    /// The refresh token, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub refresh_token: String,
    /// When the access token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// `Bearer`...
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token_type: String,
    /// Granted scopes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Anything else the provider returned.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub extra: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_read_as_flowbot_reads_them() {
        let read = |v: Value| MsgPayload::from_json(v).unwrap();
        assert_eq!(read(json!({"text": "hi"})), MsgPayload::Text("hi".into()));
        assert_eq!(
            read(json!({"_type": "TextMsg", "text": "hi"})),
            MsgPayload::Text("hi".into())
        );
        let kv = read(json!({"_type": "KVMsg", "a": 1}));
        assert_eq!(
            kv,
            MsgPayload::Kv(json!({"a": 1}).as_object().unwrap().clone())
        );
        assert_eq!(
            read(json!({"text": "", "a": 1})),
            MsgPayload::Kv(json!({"text": "", "a": 1}).as_object().unwrap().clone())
        );
        let link = read(json!({"_type": "LinkMsg", "url": "https://x"}));
        assert_eq!(
            link.to_json(),
            json!({"_type": "LinkMsg", "url": "https://x"})
        );
        assert!(MsgPayload::from_json(json!("hi")).is_err());
        assert!(MsgPayload::from_json(json!({"_type": 3})).is_err());
        assert_eq!(
            MsgPayload::Text("x".into()).to_json(),
            json!({"_type": "TextMsg", "text": "x"})
        );
    }

    #[test]
    fn context_keeps_unknown_fields() {
        let context: CallContext =
            serde_json::from_value(json!({"user_id": "u", "topic": "t"})).unwrap();
        assert_eq!(context.user_id, "u");
        assert_eq!(context.extra["topic"], "t");
        assert_eq!(serde_json::to_value(&context).unwrap()["topic"], "t");
    }

    #[test]
    fn token_and_result_use_flowbot_names() {
        let token: OAuthToken =
            serde_json::from_value(json!({"name": "gh", "type": "oauth2", "access_token": "a"}))
                .unwrap();
        assert_eq!(token.kind, "oauth2");
        let result: InvokeResult = serde_json::from_value(
            json!({"capability": "c", "operation": "o", "_resource": {"id": 1}}),
        )
        .unwrap();
        assert_eq!(result.resource["id"], 1);
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({"capability": "c", "operation": "o", "_resource": {"id": 1}})
        );
    }
}
