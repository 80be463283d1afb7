//! The plugin author's SDK.
//!
//! This crate owns both halves of writing a plugin in Rust:
//! - **wasm plugins** (`wasm`, compiled only for `wasm32` targets): the
//!   guest ABI exports, a one-line way to export a typed function, and typed
//!   wrappers around the `flowbot` host imports (`docs/wasm-abi.md`);
//! - **component plugins** (`component`, compiled only for
//!   `wasm32-wasip2`): the `flowbot:plugin` world of `wit/plugin.wit`
//!   through `wit-bindgen`, exported from typed functions by
//!   [`component_plugin!`], with the same host wrappers as `wasm`;
//! - **gRPC plugins** ([`grpc`], compiled for every other target): a
//!   [`Module`](grpc::Module) trait and a [`serve`](grpc::serve) function
//!   implementing go-plugin's server side, with a typed host client.
//!
//! Shared wire shapes come from [`plugin_types`], re-exported as [`types`].
//!
//! A wasm plugin in full:
//!
//! ```ignore
//! plugin_sdk::wasm_plugin!();
//!
//! #[derive(serde::Deserialize)]
//! struct Greet { name: String }
//!
//! fn greet(params: Greet) -> Result<String, String> {
//!     Ok(format!("hello, {}", params.name))
//! }
//! plugin_sdk::export!(greet);
//! ```

pub use plugin_types as types;

mod level;
pub use level::Level;

#[cfg(all(target_arch = "wasm32", target_env = "p2"))]
pub mod component;
#[cfg(not(target_arch = "wasm32"))]
pub mod grpc;
#[cfg(target_arch = "wasm32")]
mod guest;
#[cfg(all(target_arch = "wasm32", not(target_env = "p2")))]
pub mod wasm;

/// Generates the guest ABI exports (`alloc`, `init`, `is_ready`) in
/// the plugin crate. Call it once, at the crate root of a `cdylib`.
///
/// On non-wasm targets it expands to nothing, so a plugin crate can be part
/// of a workspace that is also built for the host.
#[macro_export]
macro_rules! wasm_plugin {
    () => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[unsafe(no_mangle)]
            extern "C" fn alloc(len: i32) -> i32 {
                $crate::wasm::abi::alloc(len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn init(ptr: i32, len: i32) -> i64 {
                $crate::wasm::abi::init(ptr, len)
            }
            #[unsafe(no_mangle)]
            extern "C" fn is_ready() -> i32 {
                $crate::wasm::abi::is_ready()
            }
        };
    };
}

/// Exports a typed function to the host under its own name:
/// `fn name(P) -> Result<R, E>` where `P: Deserialize`, `R: Serialize` and
/// `E: Display`. Params that do not decode, and `Err` results, become the
/// envelope's `error`. Use `export!(handler as other_name)` to rename.
///
/// An export's name is also a linker symbol, shared with the C library that
/// WASI programs link: exporting `write` would replace libc's `write` and
/// break `println!`. Names of C library functions are therefore refused at
/// compile time (see [`RESERVED_EXPORT_NAMES`]); rename such exports.
///
/// ```compile_fail
/// fn write(_: ()) -> Result<(), String> { Ok(()) }
/// plugin_sdk::export!(write); // error: `write` is a C library symbol
/// ```
///
/// ```
/// fn write(_: ()) -> Result<(), String> { Ok(()) }
/// plugin_sdk::export!(write as write_note);
/// ```
#[macro_export]
macro_rules! export {
    ($handler:ident) => {
        $crate::export!($handler as $handler);
    };
    ($handler:path as $name:ident) => {
        const _: () = assert!(
            !$crate::is_reserved_export_name(stringify!($name)),
            concat!(
                "`",
                stringify!($name),
                "` is a C library symbol and cannot be exported; ",
                "use `export!(handler as another_name)`"
            )
        );
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            // Exported under the function's name, but named apart in Rust so
            // it does not shadow the handler it calls.
            #[unsafe(export_name = stringify!($name))]
            extern "C" fn exported(ptr: i32, len: i32) -> i64 {
                $crate::wasm::abi::call(ptr, len, $handler)
            }
        };
    };
}

/// Export names refused by [`export!`]: the ABI's own exports and the C
/// library functions a WASI program links, whose symbols an export of the
/// same name would replace.
pub const RESERVED_EXPORT_NAMES: &[&str] = &[
    // The guest ABI.
    "memory",
    "alloc",
    "free",
    "init",
    "is_ready",
    "_initialize",
    "_start",
    // wasi-libc functions std and common crates call.
    "abort",
    "access",
    "calloc",
    "chdir",
    "close",
    "exit",
    "fclose",
    "fcntl",
    "fdopen",
    "fflush",
    "fopen",
    "fprintf",
    "fread",
    "fstat",
    "fsync",
    "ftruncate",
    "fwrite",
    "getcwd",
    "getenv",
    "isatty",
    "link",
    "lseek",
    "lstat",
    "main",
    "malloc",
    "memcmp",
    "memcpy",
    "memmove",
    "memset",
    "mkdir",
    "open",
    "opendir",
    "poll",
    "posix_memalign",
    "pread",
    "printf",
    "puts",
    "pwrite",
    "read",
    "readdir",
    "readlink",
    "readv",
    "realloc",
    "realpath",
    "remove",
    "rename",
    "rmdir",
    "sched_yield",
    "setenv",
    "sleep",
    "stat",
    "strerror",
    "strlen",
    "symlink",
    "time",
    "truncate",
    "unlink",
    "unsetenv",
    "write",
    "writev",
];

/// Whether `name` is in [`RESERVED_EXPORT_NAMES`] (usable in const context).
pub const fn is_reserved_export_name(name: &str) -> bool {
    let mut i = 0;
    while i < RESERVED_EXPORT_NAMES.len() {
        if const_str_eq(RESERVED_EXPORT_NAMES[i], name) {
            return true;
        }
        i += 1;
    }
    false
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_and_abi_names_are_reserved() {
        for name in ["write", "free", "malloc", "init", "memory", "read"] {
            assert!(is_reserved_export_name(name), "{name}");
        }
        for name in ["greet", "help", "command", "read_file", "writer", ""] {
            assert!(!is_reserved_export_name(name), "{name}");
        }
    }
}
