//! The result envelope a wasm guest returns (`{"data": ..}` or
//! `{"error": ".."}`): decoding never panics and data is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Ok(value)) = plugin_wasm::fuzzing::decode_envelope(data) {
        // JSON syntax, not necessarily a `Value`: numbers beyond f64 are
        // JSON (RFC 8259) and passed on as the guest wrote them.
        serde_json::from_str::<Box<serde_json::value::RawValue>>(&value)
            .unwrap_or_else(|e| panic!("decoded data {value:?} is not JSON: {e}"));
    }
});
