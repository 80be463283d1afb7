//! The WebAssembly plugin runner.
//!
//! This crate will own `WasmRunner`, the [`plugin_core::Runner`] that executes
//! wasm plugins in-process on wasmtime: the guest ABI (see
//! `docs/wasm-abi.md`), the `flowbot` host-function table backed by a
//! [`plugin_core::HostApi`], the sandbox limits a manifest declares (memory,
//! execution time, HTTP allowlist, filesystem preopens), the bounded instance
//! pool, and the on-disk compilation cache.
