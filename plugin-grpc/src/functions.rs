//! From a runner call (`function`, JSON params) to a `PluginService` RPC and
//! back to JSON.
//!
//! | function          | params                                  | RPC              | result                |
//! | ----------------- | --------------------------------------- | ---------------- | --------------------- |
//! | `bootstrap`       | ignored                                 | `Bootstrap`      | `null`                |
//! | `command`         | `{context, content}`                    | `Command`        | the message payload   |
//! | `form`            | `{context, values: {string: string}}`   | `Form`           | the message payload   |
//! | `input`           | `{context, head, content}`              | `Input`          | the message payload   |
//! | `rules`           | ignored                                 | `Rules`          | the rulesets          |
//! | `help`            | ignored                                 | `Help`           | the help object       |
//! | `ability_call`    | `{operation, params}`                   | `AbilityCall`    | the invoke result     |
//! | `webhook_convert` | `{payload: base64}`                     | `WebhookConvert` | the data events       |
//! | `oauth_authorize` | `{state}`                               | `OAuthAuthorize` | `{url}`               |
//! | `oauth_callback`  | `{state, code}`                         | `OAuthCallback`  | the token             |
//! | anything else     | passed through                          | `Call`           | the function's result |
//!
//! The params shapes are the ones flowbot's adapters send, so the same call
//! reaches a wasm plugin's export and a gRPC plugin's RPC. JSON values inside
//! params (`context`, `content`…) travel as JSON text in the proto's string
//! fields; an empty answer is `null`.

use std::collections::HashMap;
use std::time::Duration;

use proto::channel::Direct;
use proto::flowbot::plugin as pb;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

type Client = pb::plugin_service_client::PluginServiceClient<Direct>;

/// Why a call failed, before the runner names the plugin and function.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The RPC failed (transport, unimplemented, the plugin's own status).
    Status(tonic::Status),
    /// The plugin answered with its `error` field set.
    Plugin(String),
    /// The caller's params do not have the function's shape.
    Params(String),
    /// The plugin's answer is not valid JSON.
    Answer(String),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Self::Status(status)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MessageParams {
    context: Option<Box<RawValue>>,
    head: Option<Box<RawValue>>,
    content: Option<Box<RawValue>>,
    values: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AbilityParams {
    operation: String,
    params: Option<Box<RawValue>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WebhookParams {
    #[serde(with = "plugin_types::http::base64_bytes")]
    payload: Vec<u8>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OAuthParams {
    state: String,
    code: String,
}

fn parse<T: DeserializeOwned + Default>(params: &RawValue) -> Result<T, Failure> {
    match params.get().trim() {
        "" | "null" => Ok(T::default()),
        text => serde_json::from_str(text).map_err(|e| Failure::Params(e.to_string())),
    }
}

/// A JSON value as the text a proto string field carries (`""` for none).
fn text(value: Option<Box<RawValue>>) -> String {
    match value {
        Some(value) if value.get() != "null" => value.get().to_owned(),
        _ => String::new(),
    }
}

/// The plugin's JSON text as a result; empty is `null`.
fn json(text: String) -> Result<Box<RawValue>, Failure> {
    if text.trim().is_empty() {
        return Ok(null());
    }
    RawValue::from_string(text).map_err(|e| Failure::Answer(format!("the answer is not JSON: {e}")))
}

fn null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

/// `Ok(answer)` unless the plugin set its `error` field.
fn checked(answer: String, error: String) -> Result<Box<RawValue>, Failure> {
    if error.is_empty() {
        json(answer)
    } else {
        Err(Failure::Plugin(error))
    }
}

/// A request carrying the call's deadline, so the plugin sees it too.
fn with_deadline<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

/// Calls `function` on the plugin behind `client`, with a deadline.
pub(crate) async fn invoke(
    client: &mut Client,
    function: &str,
    params: &RawValue,
    timeout: Duration,
) -> Result<Box<RawValue>, Failure> {
    match function {
        "bootstrap" => {
            client.bootstrap(with_deadline((), timeout)).await?;
            Ok(null())
        }
        "command" => {
            let p: MessageParams = parse(params)?;
            let r = client
                .command(with_deadline(
                    pb::CommandRequest {
                        context: text(p.context),
                        content: text(p.content),
                    },
                    timeout,
                ))
                .await?
                .into_inner();
            checked(r.payload, r.error)
        }
        "form" => {
            let p: MessageParams = parse(params)?;
            let r = client
                .form(with_deadline(
                    pb::FormRequest {
                        context: text(p.context),
                        values: p.values,
                    },
                    timeout,
                ))
                .await?
                .into_inner();
            checked(r.payload, r.error)
        }
        "input" => {
            let p: MessageParams = parse(params)?;
            let r = client
                .input(with_deadline(
                    pb::InputRequest {
                        context: text(p.context),
                        head: text(p.head),
                        content: text(p.content),
                    },
                    timeout,
                ))
                .await?
                .into_inner();
            checked(r.payload, r.error)
        }
        "rules" => {
            let r = client.rules(with_deadline((), timeout)).await?.into_inner();
            checked(r.rules, r.error)
        }
        "help" => {
            let r = client.help(with_deadline((), timeout)).await?.into_inner();
            checked(r.help, r.error)
        }
        "ability_call" => {
            let p: AbilityParams = parse(params)?;
            let r = client
                .ability_call(with_deadline(
                    pb::CallRequest {
                        operation: p.operation,
                        params: text(p.params),
                    },
                    timeout,
                ))
                .await?
                .into_inner();
            checked(r.result, r.error)
        }
        "webhook_convert" => {
            let p: WebhookParams = parse(params)?;
            let r = client
                .webhook_convert(with_deadline(
                    pb::WebhookConvertRequest { payload: p.payload },
                    timeout,
                ))
                .await?
                .into_inner();
            checked(r.result, r.error)
        }
        "oauth_authorize" => {
            let p: OAuthParams = parse(params)?;
            let r = client
                .o_auth_authorize(with_deadline(
                    pb::OAuthAuthorizeRequest { state: p.state },
                    timeout,
                ))
                .await?
                .into_inner();
            if !r.error.is_empty() {
                return Err(Failure::Plugin(r.error));
            }
            json(Value::from_iter([("url".to_owned(), Value::String(r.url))]).to_string())
        }
        "oauth_callback" => {
            let p: OAuthParams = parse(params)?;
            let r = client
                .o_auth_callback(with_deadline(
                    pb::OAuthCallbackRequest {
                        state: p.state,
                        code: p.code,
                    },
                    timeout,
                ))
                .await?
                .into_inner();
            checked(r.result, r.error)
        }
        _ => {
            let r = client
                .call(with_deadline(
                    pb::FunctionCallRequest {
                        function: function.to_owned(),
                        params: params.get().to_owned(),
                    },
                    timeout,
                ))
                .await?
                .into_inner();
            checked(r.result, r.error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn message_params_become_json_text() {
        let p: MessageParams =
            parse(&raw(r#"{"context":{"uid":"u1"},"content":"hello ada"}"#)).unwrap();
        assert_eq!(text(p.context), r#"{"uid":"u1"}"#);
        assert_eq!(text(p.content), r#""hello ada""#);
        assert_eq!(text(p.head), "");
    }

    #[test]
    fn missing_params_are_defaults_and_bad_ones_are_errors() {
        let p: AbilityParams = parse(&raw("null")).unwrap();
        assert!(p.operation.is_empty() && p.params.is_none());
        assert!(matches!(
            parse::<AbilityParams>(&raw(r#"{"operation":3}"#)),
            Err(Failure::Params(_))
        ));
        let p: WebhookParams = parse(&raw(r#"{"payload":"aGk="}"#)).unwrap();
        assert_eq!(p.payload, b"hi");
    }

    #[test]
    fn answers_must_be_json_and_errors_win() {
        assert_eq!(checked(String::new(), String::new()).unwrap().get(), "null");
        assert_eq!(checked("[1]".into(), String::new()).unwrap().get(), "[1]");
        assert!(matches!(
            checked("{oops".into(), String::new()),
            Err(Failure::Answer(_))
        ));
        assert!(matches!(
            checked("[1]".into(), "boom".into()),
            Err(Failure::Plugin(e)) if e == "boom"
        ));
    }
}
