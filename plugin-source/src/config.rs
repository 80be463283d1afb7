//! [`from_config`]: the source a `sources:` entry of the host configuration
//! describes.

use plugin_types::SourceConfig;

use crate::error::SourceError;
use crate::local::LocalSource;
use crate::source::Source;

/// The source a `sources:` entry of the host configuration describes.
pub fn from_config(config: &SourceConfig) -> Result<Box<dyn Source>, SourceError> {
    match config.kind.as_str() {
        "local" => {
            let path = config.path.clone().ok_or_else(|| SourceError::Missing {
                kind: config.kind.clone(),
                field: "path",
            })?;
            Ok(Box::new(LocalSource::new(path)))
        }
        other => Err(SourceError::Unsupported(other.to_owned())),
    }
}
