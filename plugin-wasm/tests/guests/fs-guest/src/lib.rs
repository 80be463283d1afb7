//! A Rust guest for the runner's sandbox tests, built with `plugin-sdk`.
#![cfg(target_arch = "wasm32")]

use serde::Deserialize;

plugin_sdk::wasm_plugin!();

#[derive(Deserialize)]
struct File {
    path: String,
    #[serde(default)]
    content: String,
}

fn read_file(file: File) -> Result<String, String> {
    std::fs::read_to_string(&file.path).map_err(|e| format!("read {}: {e}", file.path))
}
plugin_sdk::export!(read_file);

fn write_file(file: File) -> Result<(), String> {
    std::fs::write(&file.path, file.content).map_err(|e| format!("write {}: {e}", file.path))
}
plugin_sdk::export!(write_file);

/// Removes the folder `path` (and what it holds) and leaves a symlink to
/// `content` in its place: a hostile guest's swap between instances.
fn swap_for_link(file: File) -> Result<(), String> {
    std::fs::remove_dir_all(&file.path).map_err(|e| format!("remove {}: {e}", file.path))?;
    let target = std::ffi::CString::new(file.content).map_err(|e| e.to_string())?;
    let link = std::ffi::CString::new(file.path.as_str()).map_err(|e| e.to_string())?;
    // std's `symlink_path` is unstable on WASI; wasi-libc's `symlink` finds
    // the preopen holding `link` itself.
    // SAFETY: both are NUL-terminated strings that outlive the call.
    #[allow(unsafe_code)]
    let made = unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) };
    if made == 0 {
        Ok(())
    } else {
        Err(format!(
            "symlink {}: {}",
            file.path,
            std::io::Error::last_os_error()
        ))
    }
}
plugin_sdk::export!(swap_for_link);

/// Allocates `n` MiB and keeps it: a Rust-level memory bomb.
fn hoard(n: usize) -> Result<usize, String> {
    let kept: Vec<Vec<u8>> = (0..n).map(|_| vec![1u8; 1 << 20]).collect();
    Ok(kept.iter().map(Vec::len).sum())
}
plugin_sdk::export!(hoard);

fn panic(message: String) -> Result<(), String> {
    panic!("{message}")
}
plugin_sdk::export!(panic);

fn print(line: String) -> Result<(), String> {
    println!("{line}");
    Ok(())
}
plugin_sdk::export!(print);
