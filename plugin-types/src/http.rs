//! The HTTP request a plugin asks its host to make, and the answer: the
//! JSON shapes of the wasm ABI and of flowbot's host API, shared by hosts and
//! the plugin SDK.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An HTTP request a plugin asks the host to make.
///
/// Its JSON form (the wasm ABI's) matches flowbot's: `body` is base64, as Go
/// encodes `[]byte`; `headers` and `body` may be omitted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostHttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
}

/// The host's answer to a [`HostHttpRequest`] (JSON as flowbot's: `body` is base64).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostHttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// Response body.
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
}

/// Bytes as standard base64 text, as Go's `encoding/json` writes `[]byte`:
/// use with `#[serde(with = "plugin_types::http::base64_bytes")]`. `null`
/// reads as no bytes.
pub mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Writes `bytes` as base64 text.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    /// Reads base64 text (or `null`) as bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Vec::new()),
            Some(text) => STANDARD
                .decode(text)
                .map_err(|e| D::Error::custom(format!("not base64: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_messages_use_flowbot_json() {
        let request: HostHttpRequest = serde_json::from_str(
            r#"{"method":"POST","url":"https://x","headers":{"a":"b"},"body":"aGk="}"#,
        )
        .unwrap();
        assert_eq!(request.body, b"hi");
        let minimal: HostHttpRequest =
            serde_json::from_str(r#"{"method":"GET","url":"https://x"}"#).unwrap();
        assert!(minimal.body.is_empty() && minimal.headers.is_empty());
        assert!(serde_json::from_str::<HostHttpRequest>(r#"{"body":"!!"}"#).is_err());
        let response = HostHttpResponse {
            status: 200,
            body: b"ok".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"status":200,"headers":{},"body":"b2s="}"#
        );
    }
}
