//! Plugin orchestration, and the `pluginctl` command line.
//!
//! This crate will own `PluginManager`: discovering plugins through
//! `plugin-source`, checking their configuration, creating the runner for
//! their runtime, loading, starting, stopping and reloading them
//! (validate-then-swap), polling their health, supervising crashed processes,
//! and the default host services (config, log, durable KV, HTTP, events).
//!
//! With the default `cli` feature it also builds `pluginctl`; today its verb
//! is `validate` (check manifests and configs). Library users can turn default
//! features off to skip the CLI's dependencies.
