//! Safe wrappers over the raw `flowbot` imports.
#![allow(unsafe_code)] // calling imported functions is unsafe by definition

use serde::Deserialize;

use super::abi;
use crate::types::{DataEvent, HostHttpRequest as HttpRequest, HostHttpResponse as HttpResponse};

#[link(wasm_import_module = "flowbot")]
unsafe extern "C" {
    #[link_name = "get_config"]
    fn host_get_config(key_ptr: i32, key_len: i32) -> i64;
    #[link_name = "log"]
    fn host_log(level: i32, ptr: i32, len: i32);
    #[link_name = "kv_get"]
    fn host_kv_get(key_ptr: i32, key_len: i32) -> i64;
    #[link_name = "kv_set"]
    fn host_kv_set(key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32) -> i32;
    #[link_name = "kv_delete"]
    fn host_kv_delete(key_ptr: i32, key_len: i32) -> i32;
    #[link_name = "http_request"]
    fn host_http_request(ptr: i32, len: i32) -> i64;
    #[link_name = "emit_event"]
    fn host_emit_event(ptr: i32, len: i32) -> i32;
    #[link_name = "host_call"]
    fn host_host_call(name_ptr: i32, name_len: i32, ptr: i32, len: i32) -> i64;
}

const ABSENT: i64 = -1;
const FAILED: i64 = -2;

fn raw(bytes: &[u8]) -> (i32, i32) {
    (bytes.as_ptr() as i32, bytes.len() as i32)
}

/// Turns a packed host result into owned bytes.
fn owned(packed: i64, import: &str) -> Result<Option<Vec<u8>>, String> {
    match packed {
        ABSENT => Ok(None),
        FAILED => Err(format!("host {import} failed")),
        packed => {
            let (ptr, len) = ((packed as u64 >> 32) as i32, packed as u64 as u32 as i32);
            Ok(Some(if len == 0 {
                Vec::new()
            } else {
                abi::take(ptr, len)
            }))
        }
    }
}

fn status(code: i32, import: &str) -> Result<(), String> {
    if code == 1 {
        Ok(())
    } else {
        Err(format!("host {import} failed"))
    }
}

pub(super) fn get_config(key: &str) -> Result<Option<String>, String> {
    let (ptr, len) = raw(key.as_bytes());
    // SAFETY: the import reads `len` bytes at `ptr`, which we own.
    let packed = unsafe { host_get_config(ptr, len) };
    owned(packed, "get_config")?
        .map(|bytes| String::from_utf8(bytes).map_err(|_| "config value is not UTF-8".to_owned()))
        .transpose()
}

pub(super) fn log(level: i32, message: &str) {
    let (ptr, len) = raw(message.as_bytes());
    // SAFETY: as above.
    unsafe { host_log(level, ptr, len) }
}

pub(super) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, String> {
    let (ptr, len) = raw(key.as_bytes());
    // SAFETY: as above.
    owned(unsafe { host_kv_get(ptr, len) }, "kv_get")
}

pub(super) fn kv_set(key: &str, value: &[u8]) -> Result<(), String> {
    let (key_ptr, key_len) = raw(key.as_bytes());
    let (value_ptr, value_len) = raw(value);
    // SAFETY: as above, for both buffers.
    status(
        unsafe { host_kv_set(key_ptr, key_len, value_ptr, value_len) },
        "kv_set",
    )
}

pub(super) fn kv_delete(key: &str) -> Result<(), String> {
    let (ptr, len) = raw(key.as_bytes());
    // SAFETY: as above.
    status(unsafe { host_kv_delete(ptr, len) }, "kv_delete")
}

pub(super) fn http_request(request: &HttpRequest) -> Result<HttpResponse, String> {
    let body = super::to_json(request)?;
    let (ptr, len) = raw(&body);
    // SAFETY: as above.
    let bytes = owned(unsafe { host_http_request(ptr, len) }, "http_request")?.unwrap_or_default();
    #[derive(Deserialize)]
    struct Envelope {
        data: Option<HttpResponse>,
        error: Option<String>,
    }
    let envelope: Envelope =
        serde_json::from_slice(&bytes).map_err(|e| format!("host http_request answer: {e}"))?;
    match (envelope.error, envelope.data) {
        (Some(error), _) => Err(error),
        (None, Some(response)) => Ok(response),
        (None, None) => Err("host http_request returned nothing".into()),
    }
}

/// Calls host function `name` with JSON `input`; its JSON answer.
pub(super) fn host_call(name: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    let (name_ptr, name_len) = raw(name.as_bytes());
    let (ptr, len) = raw(input);
    // SAFETY: as above, for both buffers.
    let packed = unsafe { host_host_call(name_ptr, name_len, ptr, len) };
    let bytes = owned(packed, "host_call")?.unwrap_or_default();
    #[derive(Deserialize)]
    struct Envelope {
        data: Option<Box<serde_json::value::RawValue>>,
        error: Option<String>,
    }
    let envelope: Envelope =
        serde_json::from_slice(&bytes).map_err(|e| format!("host host_call answer: {e}"))?;
    match (envelope.error, envelope.data) {
        (Some(error), _) => Err(error),
        (None, Some(data)) => Ok(data.get().as_bytes().to_vec()),
        (None, None) => Ok(b"null".to_vec()),
    }
}

pub(super) fn emit_event(event: &DataEvent) -> Result<(), String> {
    let body = super::to_json(event)?;
    let (ptr, len) = raw(&body);
    // SAFETY: as above.
    status(unsafe { host_emit_event(ptr, len) }, "emit_event")
}
