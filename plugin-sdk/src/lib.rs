//! The plugin author's SDK.
//!
//! This crate will own both halves of writing a plugin in Rust: for gRPC
//! plugins, a `Module` trait and a `serve` function implementing go-plugin's
//! server side plus a typed client for the host's callbacks; for wasm plugins
//! (compiled only for wasm targets), the guest ABI exports and typed wrappers
//! around the `flowbot` host imports. Shared wire shapes come from
//! [`plugin_types`].
