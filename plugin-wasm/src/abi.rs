//! The guest ABI: export names, pointer packing, bounds-checked memory
//! access and the result envelope. `docs/wasm-abi.md` is the reference.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The linear memory export.
pub(crate) const MEMORY: &str = "memory";
/// `alloc(len: i32) -> i32`: a guest buffer of `len` bytes.
pub(crate) const ALLOC: &str = "alloc";
/// `free(ptr: i32)`: releases a buffer the guest returned (optional).
pub(crate) const FREE: &str = "free";
/// `init(ptr: i32, len: i32) [-> i64]`: the configuration JSON (optional).
pub(crate) const INIT: &str = "init";
/// `is_ready() -> i32`: non-zero when ready (optional; absent means ready).
pub(crate) const IS_READY: &str = "is_ready";
/// WASI reactor initialiser, run once per instance when exported.
pub(crate) const INITIALIZE: &str = "_initialize";

/// Exports that are part of the ABI, never callable as plugin functions.
pub(crate) const RESERVED: [&str; 7] = [MEMORY, ALLOC, FREE, INIT, IS_READY, INITIALIZE, "_start"];

/// Host-import result: the key or value is absent.
pub(crate) const ABSENT: i64 = -1;
/// Host-import result: the request failed (the reason is logged).
pub(crate) const FAILED: i64 = -2;

/// The longest key a host import copies (`get_config`, `kv_*`): 64 KiB.
pub(crate) const MAX_KEY: usize = 64 * 1024;
/// The largest value `kv_set` copies: 16 MiB (the host's own KV limits
/// are usually far lower).
pub(crate) const MAX_KV_VALUE: usize = 16 * 1024 * 1024;
/// The largest request JSON `http_request` copies: 32 MiB (a body of
/// `MAX_HTTP_BODY`, base64-encoded, and its headers).
pub(crate) const MAX_HTTP_REQUEST: usize = 32 * 1024 * 1024;

/// Packs a guest pointer and length into the ABI's `i64`.
pub(crate) fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// Splits an `i64` result into guest pointer and length.
pub(crate) fn unpack(packed: i64) -> (u32, u32) {
    let bits = packed as u64;
    ((bits >> 32) as u32, bits as u32)
}

/// The bytes at `ptr..ptr+len` of `memory`, or an error naming the range.
/// Never trusts the guest: the range is checked against the memory's size.
pub(crate) fn guest_slice(memory: &[u8], ptr: u32, len: u32) -> Result<&[u8], String> {
    let start = ptr as usize;
    start
        .checked_add(len as usize)
        .and_then(|end| memory.get(start..end))
        .ok_or_else(|| {
            format!(
                "guest range {ptr}+{len} is outside its {}-byte memory",
                memory.len()
            )
        })
}

/// The JSON a guest function returns: `{"data": ...}` or `{"error": "..."}`.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<String>,
}

/// What a guest's envelope says.
pub(crate) enum Outcome {
    /// The function succeeded with this JSON (`null` when `data` is absent).
    Data(Box<RawValue>),
    /// The function reported this error.
    Error(String),
}

/// Decodes a result envelope.
pub(crate) fn decode_envelope(bytes: &[u8]) -> Result<Outcome, String> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(bytes).map_err(|e| format!("malformed result envelope: {e}"))?;
    match (envelope.error, envelope.data) {
        (Some(error), _) if !error.is_empty() => Ok(Outcome::Error(error)),
        (_, Some(data)) => Ok(Outcome::Data(data.to_owned())),
        (_, None) => Ok(Outcome::Data(null())),
    }
}

/// The JSON `null`.
pub(crate) fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_at_the_edges() {
        for (ptr, len) in [
            (0, 0),
            (8, 100),
            (u32::MAX, 1),
            (1, u32::MAX),
            (0x8000_0000, 7),
        ] {
            assert_eq!(unpack(pack(ptr, len)), (ptr, len));
        }
        // The failure codes can never be a valid range in a 4 GiB memory.
        let (ptr, len) = unpack(ABSENT);
        assert!(u64::from(ptr) + u64::from(len) > 1 << 32);
        let (ptr, len) = unpack(FAILED);
        assert!(u64::from(ptr) + u64::from(len) > 1 << 32);
    }

    #[test]
    fn guest_ranges_are_checked() {
        let memory = [1u8, 2, 3, 4];
        assert_eq!(guest_slice(&memory, 1, 2).unwrap(), &[2, 3]);
        assert_eq!(guest_slice(&memory, 4, 0).unwrap(), &[] as &[u8]);
        assert!(guest_slice(&memory, 3, 2).is_err());
        assert!(guest_slice(&memory, u32::MAX, u32::MAX).is_err());
    }

    #[test]
    fn envelopes_decode() {
        let data = |b: &[u8]| match decode_envelope(b).unwrap() {
            Outcome::Data(d) => d.get().to_owned(),
            Outcome::Error(e) => panic!("{e}"),
        };
        assert_eq!(data(br#"{"data": {"a": 1}}"#), r#"{"a": 1}"#);
        assert_eq!(data(br#"{}"#), "null");
        assert_eq!(data(br#"{"data": 1, "error": ""}"#), "1");
        assert!(
            matches!(decode_envelope(br#"{"error": "no"}"#).unwrap(), Outcome::Error(e) if e == "no")
        );
        assert!(decode_envelope(b"not json").is_err());
        assert!(decode_envelope(br#"{"error": 5}"#).is_err());
    }
}
