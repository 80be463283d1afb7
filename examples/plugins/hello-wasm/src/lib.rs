//! An example wasm plugin built with `plugin-sdk`: a chat module that says
//! hello, uses its configuration, keeps a count in the host's KV store and
//! emits an event per greeting.
//!
//! Build it with `cargo xtask examples` (or `cargo build -p hello-wasm
//! --target wasm32-wasip1`) and call it with
//! `pluginctl call examples/plugins/hello-wasm greet '{"name":"Ada"}'`.
#![cfg(target_arch = "wasm32")]

use plugin_sdk::wasm as sdk;

mod handlers;

plugin_sdk::wasm_plugin!();
plugin_sdk::export!(handlers::help as help);
plugin_sdk::export!(handlers::command as command);
plugin_sdk::export!(handlers::greet as greet);
plugin_sdk::export!(handlers::ability_call as ability_call);
plugin_sdk::export!(handlers::fetch as fetch);
plugin_sdk::export!(handlers::echo as echo);
plugin_sdk::export!(handlers::call_host as call_host);
