//! The host's half of go-plugin's `GRPCStdio`: what a go-plugin server
//! captured of its stdout and stderr, forwarded to `tracing` line by line.

use std::sync::Arc;

use proto::channel::Direct;
use proto::go_plugin::grpc_stdio_client::GrpcStdioClient;
use proto::go_plugin::stdio_data::Channel as StdioChannel;
use tokio::task::JoinHandle;

use crate::logs::{self, MAX_LINE, Stream};

/// Starts reading the plugin's stdio stream; a plugin without one answers
/// `UNIMPLEMENTED` and the task ends quietly.
pub(crate) fn forward(channel: Direct, plugin: Arc<str>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut client = GrpcStdioClient::new(channel);
        let mut stream = match client.stream_stdio(()).await {
            Ok(response) => response.into_inner(),
            Err(status) => {
                tracing::debug!(plugin = %plugin, "no stdio stream: {}", status.message());
                return;
            }
        };
        let mut pending = [Vec::new(), Vec::new()];
        while let Ok(Some(data)) = stream.message().await {
            let (index, kind) = match StdioChannel::try_from(data.channel) {
                Ok(StdioChannel::Stdout) => (0, Stream::Stdout),
                Ok(StdioChannel::Stderr) => (1, Stream::Stderr),
                _ => continue,
            };
            let buffer = &mut pending[index];
            buffer.extend_from_slice(&data.data);
            while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                logs::forward_line(&plugin, kind, text.trim_end_matches(['\r', '\n']));
            }
            if buffer.len() > MAX_LINE {
                logs::forward_line(&plugin, kind, &String::from_utf8_lossy(buffer));
                buffer.clear();
            }
        }
    })
}
