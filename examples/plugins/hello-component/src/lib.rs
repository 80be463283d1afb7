//! An example component plugin (WASI 0.2) built with `plugin-sdk`: the same
//! greeting module as `hello-wasm` (its handlers are shared, file for
//! file), exported through the `flowbot:plugin` world of `wit/plugin.wit`.
//!
//! Build it with `cargo xtask examples` (or `cargo build -p
//! hello-component --target wasm32-wasip2`) and call it with
//! `pluginctl call examples/plugins/hello-component greet '{"name":"Ada"}'`.
#![cfg(all(target_arch = "wasm32", target_env = "p2"))]

use plugin_sdk::component as sdk;

#[path = "../../hello-wasm/src/handlers.rs"]
mod handlers;

plugin_sdk::component_plugin!(
    handlers::help as "help",
    handlers::command as "command",
    handlers::greet as "greet",
    handlers::ability_call as "ability_call",
    handlers::fetch as "fetch",
    handlers::echo as "echo",
    handlers::call_host as "call_host",
);
