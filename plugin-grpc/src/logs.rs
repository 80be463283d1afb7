//! Forwarding a plugin's output to `tracing`, line by line, tagged with the
//! plugin's name.
//!
//! A line in hclog's JSON format (`{"@level":"warn","@message":"…",…}`) keeps
//! its level and fields; a line in hclog's text format
//! (`2024-01-01T00:00:00Z [WARN]  message`) keeps its level; anything else is
//! logged at `info`, from stdout and stderr alike (plenty of programs write
//! ordinary progress to stderr).

use plugin_core::LogLevel;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};

/// The longest line forwarded whole; longer lines are cut (a plugin that
/// never writes a newline cannot make the host buffer without bound).
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Which of the plugin's streams a line came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Reads `reader` to its end, forwarding each line.
pub(crate) async fn forward(plugin: String, stream: Stream, reader: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_bounded_line(&mut reader, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => forward_line(&plugin, stream, &String::from_utf8_lossy(&line)),
        }
    }
}

/// Reads one line (without its newline) of at most [`MAX_LINE`] bytes; the
/// rest of an overlong line is read and dropped. Returns the bytes consumed.
pub(crate) async fn read_bounded_line(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        let keep = chunk.len().min(room);
        line.extend_from_slice(&chunk[..keep]);
        let used = chunk.len();
        reader.consume(used);
        consumed += used;
        if done {
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            return Ok(consumed);
        }
    }
}

/// Logs one line of the plugin's output.
pub(crate) fn forward_line(plugin: &str, stream: Stream, line: &str) {
    if line.trim().is_empty() {
        return;
    }
    let (level, message, fields) = parse_line(line);
    let stream = stream.as_str();
    plugin_core::trace_at!(level, plugin, stream, fields, "{message}");
}

/// Splits a line into its level, message and (for JSON lines) the remaining
/// fields as `key=value` text.
pub(crate) fn parse_line(line: &str) -> (LogLevel, String, String) {
    if line.starts_with('{')
        && let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(line)
    {
        let level = object
            .remove("@level")
            .and_then(|l| l.as_str().and_then(|l| l.parse().ok()))
            .unwrap_or_default();
        let message = match object.remove("@message") {
            Some(serde_json::Value::String(m)) => m,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        object.remove("@timestamp");
        let fields = object
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" ");
        return (level, message, fields);
    }
    // hclog's text format: `<timestamp> [LEVEL] message`.
    if let Some(open) = line.find('[')
        && let Some(len) = line[open..].find(']')
        && let Ok(level) = line[open + 1..open + len].parse::<LogLevel>()
    {
        let message = line[open + len + 1..].trim().to_owned();
        return (level, message, String::new());
    }
    (LogLevel::Info, line.to_owned(), String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hclog_json_keeps_level_message_and_fields() {
        let (level, message, fields) = parse_line(
            r#"{"@level":"warn","@message":"disk low","@timestamp":"t","@module":"m","free":3}"#,
        );
        assert_eq!(level, LogLevel::Warn);
        assert_eq!(message, "disk low");
        assert_eq!(fields, "@module=m free=3");
    }

    #[test]
    fn hclog_text_keeps_level() {
        let (level, message, _) = parse_line("2024-01-01T00:00:00.000Z [ERROR] plugin: boom");
        assert_eq!((level, message.as_str()), (LogLevel::Error, "plugin: boom"));
    }

    #[test]
    fn plain_lines_are_info() {
        let (level, message, _) = parse_line("starting up [v1]");
        assert_eq!(
            (level, message.as_str()),
            (LogLevel::Info, "starting up [v1]")
        );
        let (level, _, _) = parse_line("{not json");
        assert_eq!(level, LogLevel::Info);
    }

    #[tokio::test]
    async fn overlong_lines_are_cut_not_buffered() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\nnext\n");
        let mut reader = BufReader::new(input.as_slice());
        let mut line = Vec::new();
        read_bounded_line(&mut reader, &mut line).await.unwrap();
        assert_eq!(line.len(), MAX_LINE);
        line.clear();
        read_bounded_line(&mut reader, &mut line).await.unwrap();
        assert_eq!(line, b"next");
    }
}
