//! One call through a [`RunnerCell`]: params encoded, the answer decoded,
//! errors naming the plugin and the function.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::AdapterError;
use crate::runner_cell::RunnerCell;

/// Calls `function` with `params` and decodes the JSON answer with `decode`.
pub(crate) async fn call<T>(
    cell: &RunnerCell,
    function: &str,
    params: &impl Serialize,
    decode: impl FnOnce(Value) -> Result<T, String>,
) -> Result<T, AdapterError> {
    let params = serde_json::value::to_raw_value(params).map_err(|e| AdapterError::Encode {
        plugin: cell.plugin().to_owned(),
        function: function.to_owned(),
        message: e.to_string(),
    })?;
    let answer = cell.call(function, &params).await?;
    let fail = |message: String| AdapterError::Decode {
        plugin: cell.plugin().to_owned(),
        function: function.to_owned(),
        message,
    };
    let value: Value =
        serde_json::from_str(RawValue::get(&answer)).map_err(|e| fail(e.to_string()))?;
    decode(value).map_err(fail)
}

/// A decoder for any `Deserialize` type.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}
