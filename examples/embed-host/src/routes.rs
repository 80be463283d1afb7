//! The HTTP service: chat messages and ability calls routed to plugins
//! through the host's registries. Nothing here knows which runtime a
//! plugin runs on: a wasm module, a process and a closure answer alike.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /plugins` | every plugin's status, the modules and abilities registered |
//! | `POST /chat` `{"module", "text", "user"?}` | `{"module", "reply"}`: the module's message payload |
//! | `POST /abilities/{capability}/{operation}` (params object) | the `InvokeResult` |
//! | `POST /plugins/{name}/{function}` (params) | the function's answer, called by name (`call_json`) |
//!
//! Errors are `{"error": "..."}`: 404 for a module or ability nobody
//! registered (naming those that are), 502 for a plugin's failure.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use plugin_manager::{PluginManager, Registries};
use plugin_types::CallContext;
use plugin_types::event::Kv;
use serde::Deserialize;
use serde_json::{Value, json};

/// What every handler reaches: the manager (for status) and the
/// registries (for calls).
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) manager: PluginManager,
    pub(crate) registries: Registries,
}

/// The service's routes.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/plugins", get(plugins))
        .route("/chat", post(chat))
        .route("/abilities/{capability}/{operation}", post(ability))
        .route("/plugins/{name}/{function}", post(call))
        .with_state(app)
}

type Answer = (StatusCode, Json<Value>);

fn error(status: StatusCode, message: impl std::fmt::Display) -> Answer {
    (status, Json(json!({ "error": message.to_string() })))
}

async fn plugins(State(app): State<App>) -> Json<Value> {
    Json(json!({
        "plugins": app.manager.list(),
        "modules": app.registries.modules.module_names(),
        "abilities": app.registries.abilities.invokers(),
    }))
}

/// A chat message for one module.
#[derive(Deserialize)]
struct Chat {
    module: String,
    text: String,
    #[serde(default)]
    user: String,
}

async fn chat(State(app): State<App>, Json(chat): Json<Chat>) -> Answer {
    let Some(module) = app.registries.modules.module(&chat.module) else {
        let known = app.registries.modules.module_names().join(", ");
        let message = format!("no module {:?} (modules: {known})", chat.module);
        return error(StatusCode::NOT_FOUND, message);
    };
    let context = CallContext {
        user_id: chat.user,
        channel_id: "http".into(),
        platform: "embed-host".into(),
        ..CallContext::default()
    };
    match module.command(&context, &Value::String(chat.text)).await {
        Ok(reply) => (
            StatusCode::OK,
            Json(json!({ "module": chat.module, "reply": reply })),
        ),
        Err(e) => error(StatusCode::BAD_GATEWAY, e),
    }
}

async fn ability(
    State(app): State<App>,
    Path((capability, operation)): Path<(String, String)>,
    Json(params): Json<Kv>,
) -> Answer {
    let abilities = &app.registries.abilities;
    let Some(invoker) = abilities.invoker(&capability, &operation) else {
        let known: Vec<String> = abilities.invokers().into_iter().map(|(k, _)| k).collect();
        let message = format!(
            "no ability {capability}/{operation} (abilities: {})",
            known.join(", ")
        );
        return error(StatusCode::NOT_FOUND, message);
    };
    match invoker.invoke(params).await {
        Ok(result) => (StatusCode::OK, Json(json!(result))),
        Err(e) => error(StatusCode::BAD_GATEWAY, e),
    }
}

/// Calls one function of one plugin by name, typed on our side as JSON
/// values (any serde types would do).
async fn call(
    State(app): State<App>,
    Path((name, function)): Path<(String, String)>,
    Json(params): Json<Value>,
) -> Answer {
    match app
        .manager
        .call_json::<Value, Value>(&name, &function, &params)
        .await
    {
        Ok(answer) => (StatusCode::OK, Json(answer)),
        Err(plugin_manager::ManagerError::NotFound(name)) => {
            error(StatusCode::NOT_FOUND, format!("no plugin {name:?}"))
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, e),
    }
}
