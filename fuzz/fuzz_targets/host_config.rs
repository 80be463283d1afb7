//! The host configuration file (`plugin_manager::host_config::read`), bytes
//! written to a temporary file as an operator would.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::Builder::new().suffix(".yaml").tempfile() else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    let _ = plugin_manager::host_config::read(file.path());
});
