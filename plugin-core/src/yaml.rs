//! Hardened YAML reading, shared by manifests and host configuration files.
//!
//! Every document is parsed under a budget: at most [`MAX_YAML_BYTES`] of
//! input, a bounded number of parser events, nodes, anchors and alias
//! expansions, and a bounded nesting depth. An alias bomb ("billion laughs") or
//! a multi-megabyte file is refused with a [`YamlError`] in microseconds instead
//! of exhausting memory. Duplicate mapping keys are an error, not "last wins",
//! and only `true`/`false` are booleans (YAML 1.2: `no` stays a string).
//!
//! Documents are read into a [`serde_json::Value`] first, so callers can
//! deserialize typed data from it with field paths in their errors (see
//! [`crate::manifest`]). JSON is YAML too, so JSON files read the same way.

use std::io::Read as _;
use std::path::Path;

use serde_saphyr::options::DuplicateKeyPolicy;
use serde_saphyr::{Budget, Options};

/// The largest YAML input accepted, in bytes (1 MiB).
pub const MAX_YAML_BYTES: usize = 1024 * 1024;

/// Why a YAML document was refused.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The input is larger than [`MAX_YAML_BYTES`].
    #[error("input is over the {limit}-byte limit ({size} bytes or more)")]
    TooLarge {
        /// How many bytes were seen (a lower bound for streams).
        size: u64,
        /// The limit in force.
        limit: usize,
    },
    /// The input could not be read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The input is not well-formed YAML, or exceeds the parse budget.
    #[error("invalid YAML: {0}")]
    Syntax(String),
}

fn options() -> Options {
    // Both structs are non-exhaustive: start from the defaults and tighten.
    let mut budget = Budget::default();
    budget.max_events = 200_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 64;
    budget.max_documents = 1;
    budget.max_nodes = 100_000;
    budget.max_total_scalar_bytes = MAX_YAML_BYTES;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    // YAML 1.2 booleans only: `y`, `no`, `on` stay strings (the "Norway problem").
    options.strict_booleans = true;
    options.alias_limits.max_total_replayed_events = 100_000;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options
}

/// Parses one YAML (or JSON) document into a JSON value, under the budget.
///
/// An empty document is `null`.
pub fn parse_value(text: &str) -> Result<serde_json::Value, YamlError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(YamlError::TooLarge {
            size: text.len() as u64,
            limit: MAX_YAML_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        // One line ("... at line 2, column 8"): callers already name the file.
        let message = e.without_snippet().to_string();
        let message = message.strip_prefix("error: ").unwrap_or(&message);
        YamlError::Syntax(message.trim().to_owned())
    })
}

/// Reads a file of at most [`MAX_YAML_BYTES`] as UTF-8 text.
///
/// The size is checked while reading, so a huge file (or a device that never
/// ends) is refused without being read whole; the file is opened without
/// blocking, so a FIFO nobody writes reads as empty rather than hanging.
pub fn read_text(path: &Path) -> Result<String, YamlError> {
    let file = crate::artifact::open_without_blocking(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_YAML_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_YAML_BYTES {
        return Err(YamlError::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_YAML_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        YamlError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text: {e}"),
        ))
    })
}

/// Reads a YAML or JSON file into a JSON value, under the budget.
pub fn read_value(path: &Path) -> Result<serde_json::Value, YamlError> {
    parse_value(&read_text(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    #[test]
    fn reads_yaml_and_json_alike() {
        let yaml = parse_value("a: 1\nb: [x, y]\nc: {d: true}\n").unwrap();
        let json = parse_value(r#"{"a": 1, "b": ["x", "y"], "c": {"d": true}}"#).unwrap();
        assert_eq!(yaml, json!({"a": 1, "b": ["x", "y"], "c": {"d": true}}));
        assert_eq!(yaml, json);
        assert_eq!(parse_value("  \n").unwrap(), serde_json::Value::Null);
        let norway = parse_value("country: no\nflag: on\nreal: true\n").unwrap();
        assert_eq!(norway, json!({"country": "no", "flag": "on", "real": true}));
    }

    #[test]
    fn refuses_duplicate_keys() {
        let err = parse_value("a: 1\na: 2\n").unwrap_err();
        assert!(matches!(err, YamlError::Syntax(_)), "{err}");
    }

    #[test]
    fn syntax_errors_are_one_line_with_a_position() {
        let err = parse_value("name: [oops\nruntime: wasm\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid YAML: "), "{err}");
        assert!(err.ends_with("at line 2, column 8"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn refuses_an_alias_bomb_quickly() {
        // Nine levels of nine aliases each: 387 million strings if expanded.
        let mut doc = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for pair in names.windows(2) {
            let (prev, next) = (pair[0], pair[1]);
            let refs = vec![format!("*{prev}"); 9].join(",");
            doc.push_str(&format!("{next}: &{next} [{refs}]\n"));
        }
        let started = Instant::now();
        let err = parse_value(&doc).unwrap_err();
        assert!(matches!(err, YamlError::Syntax(_)), "{err}");
        // Not a timing target, just a guard against "it eventually finished".
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn refuses_deep_nesting_and_big_input() {
        let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
        assert!(matches!(parse_value(&deep), Err(YamlError::Syntax(_))));

        let big = format!("a: \"{}\"\n", "x".repeat(MAX_YAML_BYTES));
        assert!(matches!(parse_value(&big), Err(YamlError::TooLarge { .. })));
    }

    #[test]
    fn read_text_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, vec![b'#'; 3 * MAX_YAML_BYTES]).unwrap();
        let err = read_value(&path).unwrap_err();
        assert!(
            err.to_string().contains("over the 1048576-byte limit"),
            "{err}"
        );

        let path = dir.path().join("binary.yaml");
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(
            read_value(&path)
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
    }
}
