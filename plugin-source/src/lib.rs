//! Where plugins come from.
//!
//! This crate owns plugin discovery and change reporting:
//! - [`Source`], with the types it speaks in beside it ([`source`]): the
//!   plugins found ([`Discovery`], [`Discovered`], [`Diagnostic`]), reading
//!   one again ([`Source::reread`]) and a stream of changes
//!   ([`SourceEvents`] of [`SourceEvent`]). An embedder implements it for
//!   sources of its own; [`from_config`] builds one from a `sources:` entry
//!   (`local`; any other type is a clear "not supported" error);
//! - [`local`]: one implementation, plugin folders on disk, each holding a
//!   `plugin.yaml` ([`scan()`] for one-off reads, [`LocalSource`] as a
//!   source, watched with debounced file events turned into added /
//!   updated / removed / broken events, never for a half-written file).
//!
//! A broken manifest never hides the others: it is a [`Diagnostic`] naming
//! the file and the field.

mod config;
mod error;
pub mod local;
pub mod source;

pub use config::from_config;
pub use error::SourceError;
pub use local::{LocalSource, scan};
pub use source::{Diagnostic, Discovered, Discovery, Source, SourceEvent, SourceEvents};
