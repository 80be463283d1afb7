//! [`HostFunctions`]: the host functions a plugin may call by name, with
//! JSON in and JSON out, in one table.
//!
//! Every transport reaches the table through one generic import (the core
//! ABI's `host_call`, the component world's `host.call-function`, gRPC
//! `HostService.Call`), by way of [`HostApi::call_function`]; the typed
//! imports (`get_config`, `kv_get`...) are registrations in the same table
//! too ([`builtin`]), so each is callable by name as well.
//!
//! What holds for every call is applied here, once, by the table's
//! dispatch ([`HostFunctions::call`]):
//! - the calling plugin is the host's to name: the [`HostCallContext`] a
//!   function receives is made by [`HostFunctions::serve`] from the name
//!   the host loaded the plugin under, never from anything the plugin
//!   sends, and its [`host`](HostCallContext::host) is the plugin's own
//!   services behind [`Identified`] (an event's `source`, log bounds);
//! - input and output are at most [`MAX_HOST_CALL_SIZE`] bytes of JSON,
//!   and a name at most [`MAX_FUNCTION_NAME`] bytes;
//! - an unknown name fails naming the function and the registered ones
//!   (at most [`MAX_LISTED`] of them).
//!
//! The HTTP allowlist and address rules are the host's HTTP service's
//! (`http.request` reaches [`HostApi::http_request`]), as for the typed
//! import.
//!
//! ```
//! use plugin_core::host_functions::HostFunctions;
//!
//! #[derive(serde::Deserialize)]
//! struct Lookup { city: String }
//!
//! let functions = HostFunctions::new().with("weather.lookup", |cx, input: Lookup| async move {
//!     Ok(serde_json::json!({ "city": input.city, "asked_by": cx.plugin() }))
//! });
//! assert!(functions.names().any(|name| name == "weather.lookup"));
//! assert!(functions.names().any(|name| name == "kv.get"));
//! ```

pub mod builtin;
mod dispatch;
mod served;
mod typed;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;

use crate::host::{HostApi, HostError};
#[cfg(doc)]
use crate::identity::Identified;

pub use dispatch::{MAX_ERROR_TEXT, call_text};
pub use typed::Typed;

/// The most JSON a generic host call takes in, or gives back: 1 MiB.
pub const MAX_HOST_CALL_SIZE: usize = 1024 * 1024;
pub use crate::host::MAX_FUNCTION_NAME;
/// The most registered names an "unknown host function" error lists.
pub const MAX_LISTED: usize = 32;

/// Who is calling a host function, as the host knows it.
#[derive(Clone)]
pub struct HostCallContext {
    plugin: Arc<str>,
    host: Arc<dyn HostApi>,
}

impl HostCallContext {
    /// The calling plugin's name (the host's, not one the plugin sent).
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The calling plugin's own host services (its configuration, its KV
    /// namespace, its HTTP grants), with the identity policy applied.
    pub fn host(&self) -> &Arc<dyn HostApi> {
        &self.host
    }
}

impl fmt::Debug for HostCallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostCallContext")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

/// One host function: JSON in, JSON out, for the plugin `cx` names.
/// [`Typed`] makes one from a closure over serde types.
#[async_trait]
pub trait HostFunction: Send + Sync {
    /// Answers `input` for the plugin `cx` names.
    async fn call(
        &self,
        cx: &HostCallContext,
        input: &RawValue,
    ) -> Result<Box<RawValue>, HostError>;
}

/// The host functions plugins may call by name: the
/// [built-in](builtin) ones, and those the embedder registers. Cheap to
/// clone (shared).
#[derive(Clone)]
pub struct HostFunctions {
    functions: Arc<BTreeMap<String, Arc<dyn HostFunction>>>,
}

impl Default for HostFunctions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl HostFunctions {
    /// The built-in functions ([`builtin::NAMES`]) and no other.
    pub fn new() -> Self {
        let mut functions = Self::empty();
        builtin::register(&mut functions);
        functions
    }

    /// A table with no function at all.
    pub fn empty() -> Self {
        Self {
            functions: Arc::new(BTreeMap::new()),
        }
    }

    /// Registers `function` as `name`, replacing one of that name.
    ///
    /// # Panics
    /// When `name` is empty or longer than [`MAX_FUNCTION_NAME`]: names
    /// are the embedder's, fixed in its code.
    pub fn register(&mut self, name: &str, function: Arc<dyn HostFunction>) {
        assert!(
            !name.is_empty() && name.len() <= MAX_FUNCTION_NAME,
            "a host function name is 1 to {MAX_FUNCTION_NAME} bytes: {name:?}"
        );
        Arc::make_mut(&mut self.functions).insert(name.to_owned(), function);
    }

    /// Registers the closure `f` as `name`, with `In` and `Out` its JSON
    /// (see [`Typed`]); `f` gets the [`HostCallContext`] and the input.
    pub fn with<In, Out, F, Fut>(mut self, name: &str, f: F) -> Self
    where
        In: serde::de::DeserializeOwned + Send + 'static,
        Out: serde::Serialize + Send + 'static,
        F: Fn(HostCallContext, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, HostError>> + Send + 'static,
    {
        self.register(name, Arc::new(Typed::new(f)));
        self
    }

    /// The registered names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }

    /// The function registered as `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn HostFunction>> {
        self.functions.get(name)
    }

    /// `host` (the services the host made for `plugin`) answering
    /// [`HostApi::call_function`] from this table, with `plugin` the
    /// caller every function is told of, and its HTTP requests by name
    /// held to `http` (its granted allowlist), as the typed imports hold
    /// them.
    pub fn serve(
        &self,
        plugin: &str,
        host: Arc<dyn HostApi>,
        http: crate::HttpRequestRule,
    ) -> Arc<dyn HostApi> {
        served::Served::wrap(self.clone(), plugin, host, http)
    }
}
