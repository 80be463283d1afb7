//! The go-plugin handshake line a plugin prints on stdout
//! (`proto::handshake::HandshakeLine`): parsing never panics, and a line
//! that parses prints back to a line that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::handshake::{HandshakeLine, host_offers_our_version};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = host_offers_our_version(Some(text));
    let Ok(line) = text.parse::<HandshakeLine>() else {
        return;
    };
    // The printed line ends with the protocol or the certificate, and
    // whitespace around a line is not part of it.
    let last = line.cert.as_deref().unwrap_or(&line.protocol);
    if last.trim_end() != last {
        return;
    }
    let printed = line.to_string();
    let again: HandshakeLine = printed
        .parse()
        .unwrap_or_else(|e| panic!("{printed:?} printed from {text:?} does not parse: {e}"));
    assert_eq!(again, line, "{text:?} -> {printed:?}");
});
