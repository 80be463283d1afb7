//! `plugin.yaml` bytes -> `Manifest::parse` (which compiles the config
//! schema); when it parses, the config after the first NUL byte (JSON or
//! YAML) is validated against the schema and the runtime sections are read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_core::Manifest;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (manifest, config) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(manifest) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    let config = config
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| plugin_core::yaml::parse_value(c).ok())
        .unwrap_or(Value::Null);
    let _ = manifest.validate_config(&config);
    let _ = manifest.validate_config(&Value::Object(Default::default()));
    let _ = manifest.section::<Value>();
});
