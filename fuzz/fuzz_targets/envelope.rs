//! The result envelope a wasm guest returns (`{"data": ..}` or
//! `{"error": ".."}`): decoding never panics and data is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Ok(value)) = plugin_wasm::fuzzing::decode_envelope(data) {
        serde_json::from_str::<serde_json::Value>(&value)
            .unwrap_or_else(|e| panic!("decoded data {value:?} is not JSON: {e}"));
    }
});
