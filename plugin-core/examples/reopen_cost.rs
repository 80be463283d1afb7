//! What building a preopen from a granted folder's handle costs against
//! opening the folder by its path: one `open` of `/proc/self/fd/N` (what
//! every wasm instance of a plugin with folder grants does, once per
//! folder) against one `open` of the path (what it did before issue 22).
//!
//! `cargo run --release -p plugin-core --example reopen_cost`

#![allow(clippy::unwrap_used)] // a measurement, not a library

use std::path::Path;
use std::time::Instant;

use plugin_core::GrantedDir;

fn main() {
    let root = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(root.path()).unwrap();
    let dir = GrantedDir::open(&root)
        .unwrap()
        .open_beneath(Path::new("plugins/p/x"), true)
        .unwrap();
    let by_path = root.join("plugins/p/x");
    let by_handle = dir.reopen_path();
    const N: u32 = 200_000;
    let time = |path: &Path| {
        let start = Instant::now();
        for _ in 0..N {
            drop(std::fs::File::open(path).unwrap());
        }
        start.elapsed().as_nanos() as f64 / f64::from(N)
    };
    for round in 1..=5 {
        println!(
            "round {round}: by path {:.0} ns, by handle {:.0} ns",
            time(&by_path),
            time(&by_handle)
        );
    }
}
