//! The host's policy: what a manifest asks against what the host grants
//! ([`grant`], with each folder held open as a [`granted_dir`]), where a
//! plugin's requests may go ([`http_allowlist`], [`http_request_rule`],
//! [`address`]), and how much of a plugin's code the host reads
//! ([`artifact`]).

pub mod address;
pub mod artifact;
pub mod grant;
pub mod granted_dir;
pub mod http_allowlist;
pub mod http_request_rule;
