//! The gRPC half of the SDK: implement [`Module`], call [`serve`] from
//! `main`, and reach the host through [`host()`].
//!
//! ```no_run
//! use plugin_sdk::grpc::{self, Module, ModuleError};
//! use serde_json::{Value, json};
//!
//! struct Echo;
//!
//! #[plugin_sdk::grpc::async_trait]
//! impl Module for Echo {
//!     async fn call(&self, function: &str, params: Value) -> Result<Value, ModuleError> {
//!         match function {
//!             "echo" => Ok(params),
//!             _ => Err(ModuleError::Unsupported),
//!         }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), grpc::ServeError> {
//!     grpc::serve(Echo).await
//! }
//! ```
//!
//! A plugin built this way is a go-plugin gRPC plugin: a go-plugin host
//! using flowbot's handshake (`FLOWBOT_PLUGIN=flowbot-plugin-v1`, protocol
//! version 1) loads it too.

mod broker;
mod host;
mod module;
mod serve;
mod service;
mod stream;

pub use async_trait::async_trait;
pub use host::{HostCallError, HostClient, host};
pub use module::{Module, ModuleError};
pub use serve::{ServeError, ServeOptions, serve, serve_with};
