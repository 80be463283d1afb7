//! The business event a plugin emits or a webhook is converted into.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A JSON object: the shape of [`DataEvent::data`] and [`DataEvent::tags`].
pub type Kv = serde_json::Map<String, serde_json::Value>;

/// A durable business event, as flowbot's `types.DataEvent` carries it.
///
/// The JSON form matches flowbot's field for field, so events written by a Go
/// plugin read here unchanged. Missing string fields are empty, missing maps
/// are empty, and a missing `created_at` is `None` (filled in by the host).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DataEvent {
    /// Unique id of this event.
    pub event_id: String,
    /// Dotted event type, e.g. `forge.issue.opened`.
    pub event_type: String,
    /// Who produced the event (usually the plugin name).
    pub source: String,
    /// The ability capability the event relates to.
    pub capability: String,
    /// The ability operation that produced it.
    pub operation: String,
    /// The application the entity lives in.
    pub app: String,
    /// Id of the entity the event is about.
    pub entity_id: String,
    /// When the event happened (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// Key that lets consumers drop duplicate deliveries.
    pub idempotency_key: String,
    /// The user the event belongs to.
    pub uid: String,
    /// Topic the event is published on.
    pub topic: String,
    /// Event payload (`null` reads as empty, as Go's nil map).
    #[serde(deserialize_with = "null_as_empty")]
    pub data: Kv,
    /// Free-form labels (`null` reads as empty).
    #[serde(
        skip_serializing_if = "Kv::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub tags: Kv,
}

/// Reads `null` as an empty map, as Go writes a nil map.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Kv, D::Error> {
    Ok(Option::<Kv>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_maps_read_as_empty() {
        let event: DataEvent =
            serde_json::from_value(json!({"event_type": "x", "data": null, "tags": null})).unwrap();
        assert!(event.data.is_empty() && event.tags.is_empty());
    }

    #[test]
    fn reads_an_event_written_by_go() {
        let go = json!({
            "event_id": "e1", "event_type": "forge.push", "source": "gitea",
            "capability": "forge", "operation": "push", "app": "git",
            "entity_id": "repo/1", "created_at": "2026-06-06T10:20:30.123456789+02:00",
            "idempotency_key": "k1", "uid": "u1", "topic": "t",
            "data": {"ref": "main", "commits": 2}
        });
        let event: DataEvent = serde_json::from_value(go).unwrap();
        assert_eq!(event.event_type, "forge.push");
        assert_eq!(
            event.created_at.unwrap().to_rfc3339(),
            "2026-06-06T08:20:30.123456789+00:00"
        );
        assert_eq!(event.data["commits"], 2);
        assert!(event.tags.is_empty());
    }

    #[test]
    fn round_trips_and_fills_missing_fields() {
        let event: DataEvent = serde_json::from_str(r#"{"event_type": "x"}"#).unwrap();
        assert_eq!(event.event_type, "x");
        assert!(event.created_at.is_none() && event.data.is_empty());

        let mut full = event.clone();
        full.created_at = Some(DateTime::from_timestamp(1_800_000_000, 5).unwrap());
        full.tags.insert("env".into(), json!("prod"));
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<DataEvent>(&text).unwrap(), full);
        let yaml = serde_saphyr::to_string(&full).unwrap();
        assert_eq!(serde_saphyr::from_str::<DataEvent>(&yaml).unwrap(), full);
    }
}
