//! The lines a gRPC plugin prints on stderr/stdout (hclog JSON, hclog text
//! or plain): parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n') {
        let _ = plugin_grpc::fuzzing::parse_line(line);
    }
});
