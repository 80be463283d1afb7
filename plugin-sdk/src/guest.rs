//! What every wasm guest keeps, core module or component: the configuration
//! from `init` and the readiness it reports.

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde_json::Value;

thread_local! {
    static CONFIG: RefCell<Value> = const { RefCell::new(Value::Null) };
    static READY: RefCell<bool> = const { RefCell::new(true) };
}

/// The configuration the host started this plugin with (`null` before `init`).
pub fn config() -> Value {
    CONFIG.with(|c| c.borrow().clone())
}

/// The configuration, decoded into `T`.
pub fn config_as<T: DeserializeOwned>() -> Result<T, String> {
    serde_json::from_value(config()).map_err(|e| format!("config: {e}"))
}

/// Sets what `is_ready` reports to the host (ready by default).
pub fn set_ready(ready: bool) {
    READY.with(|r| *r.borrow_mut() = ready);
}

pub(crate) fn set_config(config: Value) {
    CONFIG.with(|c| *c.borrow_mut() = config);
}

pub(crate) fn ready() -> bool {
    READY.with(|r| *r.borrow())
}
