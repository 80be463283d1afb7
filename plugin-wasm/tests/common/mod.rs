//! Helpers shared by the runner's test binaries (`mod common;`): JSON in,
//! JSON out.

#![allow(dead_code, clippy::unwrap_used)] // each binary takes what it needs

use plugin_core::Runner;
use plugin_wasm::WasmRunner;
use serde_json::Value;
use serde_json::value::RawValue;

/// `value` as the runner takes params.
pub(crate) fn raw(value: &Value) -> Box<RawValue> {
    RawValue::from_string(value.to_string()).unwrap()
}

/// Calls `function` with `params`; the answer, which must succeed.
pub(crate) async fn call(runner: &WasmRunner, function: &str, params: Value) -> Value {
    let out = runner.call(function, &raw(&params)).await.unwrap();
    serde_json::from_str(out.get()).unwrap()
}
