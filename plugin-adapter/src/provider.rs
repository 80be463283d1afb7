//! Providers: webhook converters and OAuth flows, their registries, and
//! [`PluginProvider`], a plugin that is both.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use plugin_types::{DataEvent, OAuthToken};
use serde_json::{Value, json};

use crate::call::{call, typed};
use crate::error::AdapterError;
use crate::registry::Registry;
use crate::runner_cell::RunnerCell;

/// Turns a provider's webhook payload into data events.
#[async_trait]
pub trait WebhookConverter: Send + Sync {
    /// Converts `payload`.
    async fn convert(&self, payload: &[u8]) -> Result<Vec<DataEvent>, AdapterError>;
}

/// A provider's OAuth flow.
#[async_trait]
pub trait OAuthProvider: Send + Sync {
    /// The URL that starts the flow for `state`.
    async fn authorize_url(&self, state: &str) -> Result<String, AdapterError>;
    /// Exchanges the callback's `code` for a token.
    async fn exchange(&self, state: &str, code: &str) -> Result<OAuthToken, AdapterError>;
}

/// Where a host keeps its providers' webhook converters and OAuth flows, by
/// provider name.
pub trait ProviderRegistry: Send + Sync {
    /// Adds the webhook converter of provider `name`, owned by `plugin`.
    fn register_webhook(
        &self,
        name: &str,
        plugin: &str,
        converter: Arc<dyn WebhookConverter>,
    ) -> Result<(), AdapterError>;
    /// Adds the OAuth flow of provider `name`, owned by `plugin`.
    fn register_oauth(
        &self,
        name: &str,
        plugin: &str,
        flow: Arc<dyn OAuthProvider>,
    ) -> Result<(), AdapterError>;
    /// Removes provider `name` (both kinds) if `plugin` owns it.
    fn unregister_provider(&self, name: &str, plugin: &str);
    /// The webhook converter of provider `name`.
    fn webhook(&self, name: &str) -> Option<Arc<dyn WebhookConverter>>;
    /// The OAuth flow of provider `name`.
    fn oauth(&self, name: &str) -> Option<Arc<dyn OAuthProvider>>;
    /// Every `(provider, plugin)` with a webhook converter or OAuth flow.
    fn providers(&self) -> Vec<(String, String)>;
}

/// The in-memory [`ProviderRegistry`].
pub struct InMemoryProviderRegistry {
    webhooks: Registry<Arc<dyn WebhookConverter>>,
    oauth: Registry<Arc<dyn OAuthProvider>>,
}

impl Default for InMemoryProviderRegistry {
    fn default() -> Self {
        Self {
            webhooks: Registry::new("webhook provider"),
            oauth: Registry::new("oauth provider"),
        }
    }
}

impl ProviderRegistry for InMemoryProviderRegistry {
    fn register_webhook(
        &self,
        name: &str,
        plugin: &str,
        converter: Arc<dyn WebhookConverter>,
    ) -> Result<(), AdapterError> {
        self.webhooks.register(name, plugin, converter)
    }

    fn register_oauth(
        &self,
        name: &str,
        plugin: &str,
        flow: Arc<dyn OAuthProvider>,
    ) -> Result<(), AdapterError> {
        self.oauth.register(name, plugin, flow)
    }

    fn unregister_provider(&self, name: &str, plugin: &str) {
        self.webhooks.unregister(name, plugin);
        self.oauth.unregister(name, plugin);
    }

    fn webhook(&self, name: &str) -> Option<Arc<dyn WebhookConverter>> {
        self.webhooks.get(name)
    }

    fn oauth(&self, name: &str) -> Option<Arc<dyn OAuthProvider>> {
        self.oauth.get(name)
    }

    fn providers(&self) -> Vec<(String, String)> {
        let mut all = self.webhooks.list();
        all.extend(self.oauth.list());
        all.sort();
        all.dedup();
        all
    }
}

/// A plugin as provider `name`: `webhook_convert`, and with `oauth`,
/// `oauth_authorize` and `oauth_callback`.
pub struct PluginProvider {
    cell: Arc<RunnerCell>,
    name: String,
    oauth: bool,
}

impl PluginProvider {
    /// Provider `name` served by the runner in `cell`.
    pub fn new(cell: Arc<RunnerCell>, name: impl Into<String>, oauth: bool) -> Self {
        Self {
            cell,
            name: name.into(),
            oauth,
        }
    }

    /// Registers the webhook converter and, if declared, the OAuth flow; all
    /// or none.
    pub fn register(self: &Arc<Self>, registry: &dyn ProviderRegistry) -> Result<(), AdapterError> {
        let plugin = self.cell.plugin();
        let converter: Arc<dyn WebhookConverter> = self.clone();
        registry.register_webhook(&self.name, plugin, converter)?;
        if self.oauth {
            let flow: Arc<dyn OAuthProvider> = self.clone();
            if let Err(e) = registry.register_oauth(&self.name, plugin, flow) {
                registry.unregister_provider(&self.name, plugin);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Removes this provider from `registry`.
    pub fn unregister(&self, registry: &dyn ProviderRegistry) {
        registry.unregister_provider(&self.name, self.cell.plugin());
    }
}

#[async_trait]
impl WebhookConverter for PluginProvider {
    async fn convert(&self, payload: &[u8]) -> Result<Vec<DataEvent>, AdapterError> {
        // Bytes travel as base64, as Go encodes []byte.
        let payload = base64::engine::general_purpose::STANDARD.encode(payload);
        let mut events: Vec<DataEvent> = call(
            &self.cell,
            "webhook_convert",
            &json!({ "payload": payload }),
            typed,
        )
        .await?;
        let now = chrono::Utc::now();
        for event in &mut events {
            event.created_at.get_or_insert(now);
            // The provider's name, registered by the host, whatever the
            // plugin wrote.
            plugin_core::stamp_event(&self.name, event);
        }
        Ok(events)
    }
}

#[async_trait]
impl OAuthProvider for PluginProvider {
    async fn authorize_url(&self, state: &str) -> Result<String, AdapterError> {
        call(
            &self.cell,
            "oauth_authorize",
            &json!({ "state": state }),
            |v: Value| {
                v.get("url")
                    .and_then(Value::as_str)
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("want {{\"url\": \"...\"}}, got {v}"))
            },
        )
        .await
    }

    async fn exchange(&self, state: &str, code: &str) -> Result<OAuthToken, AdapterError> {
        let params = json!({ "state": state, "code": code });
        let mut token: OAuthToken = call(&self.cell, "oauth_callback", &params, typed).await?;
        if token.access_token.is_empty() {
            return Err(AdapterError::Decode {
                plugin: self.cell.plugin().to_owned(),
                function: "oauth_callback".to_owned(),
                message: "the token has no access_token".to_owned(),
            });
        }
        if token.name.is_empty() {
            token.name.clone_from(&self.name);
        }
        Ok(token)
    }
}
