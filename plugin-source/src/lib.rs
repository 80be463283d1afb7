//! Where plugins come from.
//!
//! This crate owns plugin discovery. Today that is [`local`]: plugin folders
//! on disk, each holding a `plugin.yaml`. It will grow the `Source` trait
//! (discover, artifact, watch, close) with change watching, and further kinds
//! of source.

pub mod local;

pub use local::{Diagnostic, Discovered, Discovery, scan};
