//! Where plugins come from.
//!
//! This crate owns plugin discovery and change watching:
//! - [`Source`]: discover the plugins of a place, name their artifacts, and
//!   watch for plugins that appear, change or go ([`SourceEvent`]);
//!   [`from_config`] builds one from a `sources:` entry (`local` today; other
//!   types are a clear "not supported" error);
//! - [`local`]: plugin folders on disk, each holding a `plugin.yaml`
//!   ([`scan()`] for one-off reads, [`LocalSource`] as a source);
//! - [`watch`]: debounced file events turned into added / updated / removed /
//!   broken events, never for a half-written file.
//!
//! A broken manifest never hides the others: it is a [`Diagnostic`] naming
//! the file and the field.

mod config;
mod error;
pub mod local;
mod source;
pub mod watch;

pub use config::from_config;
pub use error::SourceError;
pub use local::{Diagnostic, Discovered, Discovery, LocalSource, scan};
pub use source::Source;
pub use watch::{SourceEvent, Watch};
