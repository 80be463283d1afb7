//! The on-disk cache of compiled modules.
//!
//! An entry is keyed by the SHA-256 of the module's bytes and the engine's
//! compatibility hash (wasmtime version, compiler settings, CPU features),
//! so a changed module or a changed engine never meets a stale entry.
//! An entry's file holds the SHA-256 of its payload, then the payload (the
//! serialized module). The digest is checked before the payload is handed to
//! wasmtime; a corrupt, truncated or incompatible entry is removed and
//! rebuilt, never trusted. Entries are written to a temporary file and
//! renamed into place, so readers never see half an entry.
//!
//! Trust boundary: whoever can write the cache folder can make the host run
//! native code. Keep it private to the host's user (as any compiled-code
//! cache must be).
#![allow(unsafe_code)] // Module::deserialize; see `load`.

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

const DIGEST_LEN: usize = 32;

/// A folder of compiled modules.
#[derive(Debug, Clone)]
pub(crate) struct ModuleCache {
    dir: PathBuf,
}

impl ModuleCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn entry(&self, engine: &Engine, source: &[u8]) -> PathBuf {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let module_hash = Sha256::digest(source);
        let name: String = module_hash.iter().map(|b| format!("{b:02x}")).collect();
        self.dir
            .join(format!("{name}-{:016x}.cwasm", engine_hash.finish()))
    }

    /// The module for `source`: from the cache when a sound entry exists,
    /// otherwise compiled and stored. Cache trouble never fails the load; it
    /// only costs a compilation.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        source: &[u8],
    ) -> wasmtime::Result<Module> {
        let entry = self.entry(engine, source);
        if let Some(module) = load(engine, &entry) {
            return Ok(module);
        }
        let module = Module::new(engine, source)?;
        if let Err(e) = store(&entry, &module) {
            tracing::warn!(entry = %entry.display(), "cannot write the module cache: {e:#}");
        }
        Ok(module)
    }
}

/// Reads a sound entry; removes an unsound one.
fn load(engine: &Engine, entry: &Path) -> Option<Module> {
    let bytes = std::fs::read(entry).ok()?;
    let sound =
        bytes.len() > DIGEST_LEN && Sha256::digest(&bytes[DIGEST_LEN..])[..] == bytes[..DIGEST_LEN];
    let module = if sound {
        // SAFETY: the payload is byte for byte what `store` wrote from
        // `Module::serialize` (its SHA-256 matches), in a folder only the
        // host writes; wasmtime also checks the engine compatibility header.
        unsafe { Module::deserialize(engine, &bytes[DIGEST_LEN..]) }.ok()
    } else {
        None
    };
    if module.is_none() {
        tracing::warn!(entry = %entry.display(), "discarding a corrupt or incompatible module cache entry");
        let _ = std::fs::remove_file(entry);
    }
    module
}

fn store(entry: &Path, module: &Module) -> wasmtime::Result<()> {
    let payload = module.serialize()?;
    let dir = entry.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(&Sha256::digest(&payload))?;
    file.write_all(&payload)?;
    file.persist(entry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = r#"(module (func (export "answer") (result i32) i32.const 42))"#;

    fn answer(engine: &Engine, module: &Module) -> i32 {
        let mut store = wasmtime::Store::new(engine, ());
        let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
        let f = instance
            .get_typed_func::<(), i32>(&mut store, "answer")
            .unwrap();
        f.call(&mut store, ()).unwrap()
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[test]
    fn stores_then_reuses_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::new(dir.path().to_path_buf());
        let first = cache.load_or_compile(&engine, MODULE.as_bytes()).unwrap();
        assert_eq!(answer(&engine, &first), 42);
        let stored = entries(dir.path());
        assert_eq!(stored.len(), 1);
        let written = std::fs::metadata(&stored[0]).unwrap().modified().unwrap();
        let second = cache.load_or_compile(&engine, MODULE.as_bytes()).unwrap();
        assert_eq!(answer(&engine, &second), 42);
        assert_eq!(
            std::fs::metadata(&stored[0]).unwrap().modified().unwrap(),
            written,
            "reused, not rewritten"
        );
    }

    #[test]
    fn corrupt_and_truncated_entries_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::new(dir.path().to_path_buf());
        cache.load_or_compile(&engine, MODULE.as_bytes()).unwrap();
        let entry = entries(dir.path()).remove(0);
        let good = std::fs::read(&entry).unwrap();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        for bad in [
            flipped,
            good[..good.len() / 2].to_vec(),
            Vec::new(),
            b"junk".to_vec(),
        ] {
            std::fs::write(&entry, &bad).unwrap();
            let module = cache.load_or_compile(&engine, MODULE.as_bytes()).unwrap();
            assert_eq!(answer(&engine, &module), 42);
            assert_eq!(
                std::fs::read(&entry).unwrap(),
                good,
                "the entry was rebuilt"
            );
        }
    }

    #[test]
    fn a_changed_module_gets_its_own_entry() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::new(dir.path().to_path_buf());
        cache.load_or_compile(&engine, MODULE.as_bytes()).unwrap();
        let other = MODULE.replace("42", "7");
        let module = cache.load_or_compile(&engine, other.as_bytes()).unwrap();
        assert_eq!(answer(&engine, &module), 7);
        assert_eq!(entries(dir.path()).len(), 2);
    }

    #[test]
    fn an_unwritable_cache_still_loads() {
        let engine = Engine::default();
        let cache = ModuleCache::new(PathBuf::from("/proc/no-such-dir/cache"));
        let module = cache.load_or_compile(&engine, MODULE.as_bytes()).unwrap();
        assert_eq!(answer(&engine, &module), 42);
    }
}
