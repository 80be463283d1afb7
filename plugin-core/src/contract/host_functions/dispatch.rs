//! The table's dispatch: where the bounds and the unknown-name refusal of
//! every host call are applied, whatever the transport.

use serde_json::value::RawValue;

use super::{HostCallContext, HostFunctions, MAX_FUNCTION_NAME, MAX_HOST_CALL_SIZE, MAX_LISTED};
use crate::bounded::cut;
use crate::host::{HostApi, HostError};

impl HostFunctions {
    /// Calls the function registered as `name` with `input` for the plugin
    /// `cx` names: input and answer at most [`MAX_HOST_CALL_SIZE`] bytes;
    /// an unknown name fails naming it and the registered ones.
    pub async fn call(
        &self,
        cx: &HostCallContext,
        name: &str,
        input: &RawValue,
    ) -> Result<Box<RawValue>, HostError> {
        let size = input.get().len();
        if size > MAX_HOST_CALL_SIZE {
            return Err(HostError::InvalidRequest(format!(
                "the input of host function {:?} is {size} bytes, more than the {MAX_HOST_CALL_SIZE} a host call takes",
                cut(name, MAX_FUNCTION_NAME)
            )));
        }
        let Some(function) = self.get(name) else {
            return Err(self.unknown(name));
        };
        let output = function.call(cx, input).await?;
        let size = output.get().len();
        if size > MAX_HOST_CALL_SIZE {
            return Err(HostError::Failed(
                format!(
                    "the answer of host function {name:?} is {size} bytes, more than the {MAX_HOST_CALL_SIZE} a host call gives back"
                )
                .into(),
            ));
        }
        Ok(output)
    }

    /// "No host function `name`", with the registered names (at most
    /// [`MAX_LISTED`]).
    fn unknown(&self, name: &str) -> HostError {
        let total = self.functions.len();
        let mut listed: Vec<&str> = self.names().take(MAX_LISTED).collect();
        let more = total.saturating_sub(listed.len());
        let tail = format!("and {more} more");
        if more > 0 {
            listed.push(&tail);
        }
        HostError::UnknownFunction {
            name: cut(name, MAX_FUNCTION_NAME).to_owned(),
            registered: listed.join(", "),
        }
    }
}

/// Calls host function `name` of `host` with the JSON text `input`, as a
/// transport receives them: `input` is refused past
/// [`MAX_HOST_CALL_SIZE`] before it is parsed, and the answer is JSON text.
pub async fn call_text(host: &dyn HostApi, name: &str, input: &str) -> Result<String, HostError> {
    if name.len() > MAX_FUNCTION_NAME {
        return Err(HostError::InvalidRequest(format!(
            "a host function name is at most {MAX_FUNCTION_NAME} bytes, not {}",
            name.len()
        )));
    }
    if input.len() > MAX_HOST_CALL_SIZE {
        return Err(HostError::InvalidRequest(format!(
            "the input of host function {name:?} is {} bytes, more than the {MAX_HOST_CALL_SIZE} a host call takes",
            input.len()
        )));
    }
    let input = if input.trim().is_empty() {
        "null"
    } else {
        input
    };
    let input: &RawValue = serde_json::from_str(input).map_err(|e| {
        HostError::InvalidRequest(format!(
            "the input of host function {name:?} is not JSON: {e}"
        ))
    })?;
    host.call_function(name, input)
        .await
        .map(|answer| answer.get().to_owned())
        .map_err(bounded_error)
}

/// The most of an error's text a host call gives back to a plugin: 4 KiB
/// (an error may echo the plugin's input; it is not a way to grow it).
pub const MAX_ERROR_TEXT: usize = 4096;

/// `error` with its text cut to [`MAX_ERROR_TEXT`].
fn bounded_error(error: HostError) -> HostError {
    let bounded = |text: String| {
        if text.len() <= MAX_ERROR_TEXT {
            return text;
        }
        let kept = cut(&text, MAX_ERROR_TEXT);
        format!("{kept}... ({} bytes cut)", text.len() - kept.len())
    };
    match error {
        HostError::PermissionDenied(text) => HostError::PermissionDenied(bounded(text)),
        HostError::InvalidRequest(text) => HostError::InvalidRequest(bounded(text)),
        HostError::Failed(inner) if inner.to_string().len() > MAX_ERROR_TEXT => {
            HostError::Failed(bounded(inner.to_string()).into())
        }
        other => other,
    }
}
