//! [`Module`]: what a gRPC plugin implements.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde_json::Value;

use crate::types::{CallContext, DataEvent, InvokeResult, MsgPayload, OAuthToken, Rules};

/// Why a [`Module`] method did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// The module does not implement this function; the host reports
    /// "unsupported by plugin".
    #[error("unsupported")]
    Unsupported,
    /// The function failed; the host reports the message as the plugin's
    /// error.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for ModuleError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

impl From<&str> for ModuleError {
    fn from(message: &str) -> Self {
        Self::Failed(message.to_owned())
    }
}

/// A chat module served as a gRPC plugin: implement what your plugin does
/// and pass it to [`serve`](super::serve). Every method has a default, so a
/// plugin implements only what it offers; the defaults answer
/// [`ModuleError::Unsupported`] except `init` and `bootstrap` (succeed),
/// `rules` (`[]`), `help` (`{}`) and `is_ready` (`true`).
///
/// The types are the wire shapes of [`plugin_types::module`], which the
/// host's adapters read, so plugin and host agree by construction; the same
/// calls reach a wasm plugin's exports. Methods run
/// concurrently: use interior mutability for state. Call the host through
/// [`host()`](super::host).
#[async_trait]
pub trait Module: Send + Sync + 'static {
    /// Receives the configuration (already checked against the manifest's
    /// `config_schema` by the host). Called once, before anything else.
    async fn init(&self, config: Value) -> Result<(), ModuleError> {
        let _ = config;
        Ok(())
    }

    /// Runs one-time set-up after `init`.
    async fn bootstrap(&self) -> Result<(), ModuleError> {
        Ok(())
    }

    /// Handles a chat command; answers a message payload.
    async fn command(&self, ctx: CallContext, content: Value) -> Result<MsgPayload, ModuleError> {
        let _ = (ctx, content);
        Err(ModuleError::Unsupported)
    }

    /// Handles a submitted form; answers a message payload.
    async fn form(
        &self,
        ctx: CallContext,
        values: HashMap<String, String>,
    ) -> Result<MsgPayload, ModuleError> {
        let _ = (ctx, values);
        Err(ModuleError::Unsupported)
    }

    /// Handles free chat input; answers a message payload.
    async fn input(
        &self,
        ctx: CallContext,
        head: Value,
        content: Value,
    ) -> Result<MsgPayload, ModuleError> {
        let _ = (ctx, head, content);
        Err(ModuleError::Unsupported)
    }

    /// The module's rulesets.
    async fn rules(&self) -> Result<Rules, ModuleError> {
        Ok(Vec::new())
    }

    /// The module's help: command group → lines.
    async fn help(&self) -> Result<BTreeMap<String, Vec<String>>, ModuleError> {
        Ok(BTreeMap::new())
    }

    /// Whether the module is ready to serve.
    async fn is_ready(&self) -> bool {
        true
    }

    /// Invokes one ability operation with its params.
    async fn ability_call(
        &self,
        operation: &str,
        params: Value,
    ) -> Result<InvokeResult, ModuleError> {
        let _ = (operation, params);
        Err(ModuleError::Unsupported)
    }

    /// Converts a provider webhook payload into data events.
    async fn webhook_convert(&self, payload: Vec<u8>) -> Result<Vec<DataEvent>, ModuleError> {
        let _ = payload;
        Err(ModuleError::Unsupported)
    }

    /// The OAuth authorize URL for `state`.
    async fn oauth_authorize(&self, state: &str) -> Result<String, ModuleError> {
        let _ = state;
        Err(ModuleError::Unsupported)
    }

    /// Completes an OAuth flow; answers the token.
    async fn oauth_callback(&self, state: &str, code: &str) -> Result<OAuthToken, ModuleError> {
        let _ = (state, code);
        Err(ModuleError::Unsupported)
    }

    /// Any other function, by name (the generic `Call` RPC), like a wasm
    /// plugin's exports.
    async fn call(&self, function: &str, params: Value) -> Result<Value, ModuleError> {
        let _ = (function, params);
        Err(ModuleError::Unsupported)
    }
}
