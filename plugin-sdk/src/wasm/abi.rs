//! The exports [`wasm_plugin!`](crate::wasm_plugin) and
//! [`export!`](crate::export) generate call into here. Not for direct use.
#![allow(unsafe_code)] // the ABI hands raw buffers across the wasm boundary

use std::cell::{Cell, RefCell};
use std::fmt::Display;

use serde::{Serialize, de::DeserializeOwned};

thread_local! {
    /// Live buffers handed to the host: (address, capacity). A handful at
    /// most (a call's params, a result, an import's answer), so a list.
    static BUFFERS: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
    /// The last result handed to the host, reclaimed at the next result.
    static LAST_RESULT: Cell<Option<i32>> = const { Cell::new(None) };
}

/// Leaks `bytes` as a buffer the host can read and later `free`.
pub(crate) fn leak(bytes: Vec<u8>) -> (i32, i32) {
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    let (ptr, len, capacity) = (bytes.as_mut_ptr(), bytes.len(), bytes.capacity());
    BUFFERS.with(|b| b.borrow_mut().push((ptr as usize, capacity)));
    (ptr as i32, len as i32)
}

/// Forgets the buffer at `ptr`, returning its capacity if it was live.
fn unregister(ptr: i32) -> Option<usize> {
    let ptr = ptr as u32 as usize;
    BUFFERS.with(|b| {
        let mut buffers = b.borrow_mut();
        let at = buffers.iter().rposition(|&(p, _)| p == ptr)?;
        Some(buffers.swap_remove(at).1)
    })
}

/// Takes back ownership of a buffer this module handed out (including the
/// ones the host filled with an import's result, which it got from `alloc`).
pub(crate) fn take(ptr: i32, len: i32) -> Vec<u8> {
    match unregister(ptr) {
        // SAFETY: `ptr` came from `leak` with this capacity and was not
        // freed since (it was still in the table); `len <= capacity`.
        Some(capacity) if (len as u32 as usize) <= capacity => unsafe {
            Vec::from_raw_parts(
                ptr as u32 as usize as *mut u8,
                len as u32 as usize,
                capacity,
            )
        },
        _ => Vec::new(),
    }
}

/// Packs a pointer and length into the ABI's `i64`.
pub(crate) fn pack(ptr: i32, len: i32) -> i64 {
    ((u64::from(ptr as u32) << 32) | u64::from(len as u32)) as i64
}

/// `alloc` export.
pub fn alloc(len: i32) -> i32 {
    leak(vec![0; len.max(0) as usize]).0
}

/// Releases a buffer this module handed out. (The SDK exports no `free`:
/// wasi-libc owns that symbol. Result buffers are reclaimed at the next
/// result instead; the host copies each result out as soon as it returns.)
fn release(ptr: i32) {
    if let Some(capacity) = unregister(ptr) {
        // SAFETY: as in `take`; length 0 drops nothing but the allocation.
        drop(unsafe { Vec::from_raw_parts(ptr as u32 as usize as *mut u8, 0, capacity) });
    }
}

/// `is_ready` export.
pub fn is_ready() -> i32 {
    i32::from(crate::guest::ready())
}

/// `init` export: stores the configuration.
pub fn init(ptr: i32, len: i32) -> i64 {
    let bytes = take(ptr, len);
    match serde_json::from_slice(&bytes) {
        Ok(config) => {
            crate::guest::set_config(config);
            envelope(Ok::<(), String>(()))
        }
        Err(e) => envelope(Err::<(), _>(format!("config is not JSON: {e}"))),
    }
}

/// Body of every exported function: decode, run, encode.
pub fn call<P, R, E>(ptr: i32, len: i32, handler: fn(P) -> Result<R, E>) -> i64
where
    P: DeserializeOwned,
    R: Serialize,
    E: Display,
{
    let bytes = take(ptr, len);
    let result = match serde_json::from_slice::<P>(&bytes) {
        Ok(params) => handler(params).map_err(|e| e.to_string()),
        Err(e) => Err(format!("invalid params: {e}")),
    };
    envelope(result)
}

/// Encodes the result envelope, `{"data":...}` or `{"error":"..."}`,
/// writing the value straight into the buffer (no intermediate
/// `serde_json::Value`).
fn envelope<R: Serialize>(result: Result<R, String>) -> i64 {
    fn wrapped<T: Serialize + ?Sized>(key: &[u8], value: &T) -> serde_json::Result<Vec<u8>> {
        let mut body = Vec::with_capacity(128);
        body.extend_from_slice(key);
        serde_json::to_writer(&mut body, value)?;
        body.push(b'}');
        Ok(body)
    }
    let body = match result {
        Ok(data) => wrapped(br#"{"data":"#, &data),
        Err(error) => wrapped(br#"{"error":"#, error.as_str()),
    }
    .unwrap_or_else(|e| {
        wrapped(br#"{"error":"#, &format!("result is not JSON: {e}"))
            .unwrap_or_else(|_| br#"{"error":"result is not JSON"}"#.to_vec())
    });
    if let Some(previous) = LAST_RESULT.take() {
        release(previous);
    }
    let (ptr, len) = leak(body);
    LAST_RESULT.set(Some(ptr));
    pack(ptr, len)
}
