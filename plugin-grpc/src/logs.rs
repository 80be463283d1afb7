//! Forwarding a plugin's output to `tracing`, line by line, tagged with the
//! plugin's name.
//!
//! A line in hclog's JSON format (`{"@level":"warn","@message":"…",…}`) keeps
//! its level and fields; a line in hclog's text format
//! (`2024-01-01T00:00:00Z [WARN]  message`) keeps its level; anything else is
//! logged at `info`, from stdout and stderr alike (plenty of programs write
//! ordinary progress to stderr).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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

/// The most lines a [`Tail`] keeps.
pub(crate) const TAIL_LINES: usize = 20;
/// The most bytes a [`Tail`] keeps (lines longer are cut to this).
pub(crate) const TAIL_BYTES: usize = 4 * 1024;

/// The last lines a plugin wrote on a stream (at most [`TAIL_LINES`] lines
/// and [`TAIL_BYTES`] bytes): what an error quotes when the plugin dies
/// before its handshake.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    /// Keeps `line`, dropping the oldest lines beyond the bounds.
    pub(crate) fn push(&self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let mut line = line.to_owned();
        if line.len() > TAIL_BYTES {
            let mut end = TAIL_BYTES;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
        }
        let mut lines = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.push_back(line);
        let mut bytes: usize = lines.iter().map(String::len).sum();
        while lines.len() > TAIL_LINES || bytes > TAIL_BYTES {
            let Some(dropped) = lines.pop_front() else {
                break;
            };
            bytes -= dropped.len();
        }
    }

    /// The lines kept, oldest first.
    pub(crate) fn lines(&self) -> Vec<String> {
        let lines = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        lines.iter().cloned().collect()
    }
}

/// Reads `reader` to its end, forwarding each line (and keeping the last
/// ones in `tail`, when given).
pub(crate) async fn forward(
    plugin: String,
    stream: Stream,
    reader: impl AsyncRead + Unpin,
    tail: Option<Tail>,
) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match read_bounded_line(&mut reader, &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                if let Some(tail) = &tail {
                    tail.push(&text);
                }
                forward_line(&plugin, stream, &text);
            }
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

    #[test]
    fn a_tail_keeps_the_last_lines_within_its_bounds() {
        let tail = Tail::default();
        for i in 0..100 {
            tail.push(&format!("line {i}"));
        }
        tail.push("   ");
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.last().map(String::as_str), Some("line 99"));
        assert_eq!(lines.first().map(String::as_str), Some("line 80"));
        tail.push(&"é".repeat(TAIL_BYTES));
        let lines = tail.lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].len() <= TAIL_BYTES);
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
