//! [`ModuleCache`]: the on-disk cache of compiled modules.
//!
//! An entry is keyed by the BLAKE3 hash of the module's bytes and the engine's
//! compatibility hash (wasmtime version, compiler settings, CPU features),
//! so a changed module or a changed engine never meets a stale entry.
//!
//! Compiled code is native code: whoever can write an entry that the host
//! deserializes can run code in the host. So an entry is authenticated:
//! its file holds a keyed BLAKE3 MAC of the entry's name and payload under
//! a random 32-byte key only the host holds (`<cache-dir>.key`, mode 0600,
//! outside the cache folder), then the payload (the serialized module). The
//! tag is checked before the payload is handed to wasmtime; a forged,
//! truncated, swapped (another entry's file under this name) or corrupt
//! entry is removed with a warning and rebuilt from the module, never
//! trusted. The folder is created 0700. Entries are written to a temporary
//! file and renamed into place, so readers never see half an entry.
//!
//! The modules this process compiled or loaded through the cache also stay
//! in memory, up to a budget of their compiled size (least recently used
//! go first): loading one again (a reload, a restart after a crash, a second
//! plugin on the same module) skips the disk, the MAC and deserializing.
//! They were compiled or authenticated by this process, so they are trusted.
#![allow(unsafe_code)] // Module::deserialize; see `load`.

use std::any::Any;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::{Engine, Module};

const TAG_LEN: usize = 32;
const KEY_LEN: usize = 32;

/// How many bytes of compiled code a cache keeps in memory unless told
/// otherwise ([`ModuleCache::with_memory_budget`]).
pub const DEFAULT_MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// A folder of compiled modules, authenticated with the host's key, and the
/// most recently used of them in memory. Clones share both.
#[derive(Clone)]
pub struct ModuleCache {
    dir: PathBuf,
    key: Arc<[u8; KEY_LEN]>,
    recent: Arc<Mutex<Recent>>,
}

/// Compiled modules (or components) kept in memory, by entry name, the most
/// recently used last; their compiled sizes add up to at most `budget`.
struct Recent {
    entries: VecDeque<(PathBuf, usize, Arc<dyn Any + Send + Sync>)>,
    bytes: usize,
    budget: usize,
}

impl Recent {
    fn new(budget: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// Where `entry` compiled for `engine` is: two engines of one process
    /// (a pooling one and the on-demand one) share entry names, not code.
    fn position<T: Compiled>(&self, entry: &Path, engine: &Engine) -> Option<usize> {
        self.entries.iter().position(|(name, _, module)| {
            name == entry
                && module
                    .downcast_ref::<T>()
                    .is_some_and(|module| Engine::same(module.engine(), engine))
        })
    }

    fn get<T: Compiled>(&mut self, entry: &Path, engine: &Engine) -> Option<T> {
        let at = self.position::<T>(entry, engine)?;
        let found = self.entries.remove(at)?;
        let module = found.2.downcast_ref::<T>().cloned();
        self.entries.push_back(found);
        module
    }

    fn put<T: Compiled>(&mut self, entry: &Path, size: usize, module: T) {
        // Two loads of one module may both have missed: keep one entry.
        if let Some(at) = self.position::<T>(entry, module.engine())
            && let Some((_, dropped, _)) = self.entries.remove(at)
        {
            self.bytes -= dropped;
        }
        if size > self.budget {
            return;
        }
        while self.bytes + size > self.budget {
            let Some((_, dropped, _)) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= dropped;
        }
        self.bytes += size;
        self.entries
            .push_back((entry.to_path_buf(), size, Arc::new(module)));
    }
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ModuleCache {
    /// Opens the cache in `dir` (created with mode 0700), with the key at
    /// [`key_path`](Self::key_path)`(dir)`, created (mode 0600) with 32
    /// random bytes when missing. A key file of the wrong size is an error.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let key_path = Self::key_path(dir);
        let key = match std::fs::read(&key_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Written whole to a file of its own, then linked into
                // place: a host opening the same cache at the same moment
                // reads either no key or the whole of one, and the first
                // link wins.
                let mut key = [0u8; KEY_LEN];
                getrandom::fill(&mut key).map_err(std::io::Error::other)?;
                let mut staged = tempfile::Builder::new()
                    .prefix(".key-")
                    .permissions(std::fs::Permissions::from_mode(0o600))
                    .tempfile_in(key_path.parent().unwrap_or(Path::new(".")))?;
                staged.write_all(&key)?;
                staged.as_file().sync_all()?;
                match std::fs::hard_link(staged.path(), &key_path) {
                    Ok(()) => key.to_vec(),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::read(&key_path)?
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let key: [u8; KEY_LEN] = key.try_into().map_err(|_| {
            std::io::Error::other(format!(
                "{} is not a cache key ({KEY_LEN} bytes)",
                key_path.display()
            ))
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key: Arc::new(key),
            recent: Arc::new(Mutex::new(Recent::new(DEFAULT_MEMORY_BUDGET))),
        })
    }

    /// Keeps at most `bytes` of compiled code in memory (0: none, every
    /// load reads the disk); [`DEFAULT_MEMORY_BUDGET`] unless set.
    #[must_use]
    pub fn with_memory_budget(self, bytes: usize) -> Self {
        Self {
            recent: Arc::new(Mutex::new(Recent::new(bytes))),
            ..self
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the key of the cache in `dir` is kept: beside it, as
    /// `<dir>.key`.
    pub fn key_path(dir: &Path) -> PathBuf {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(".key");
        dir.with_file_name(name)
    }

    fn entry(&self, engine: &Engine, source: &[u8]) -> PathBuf {
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let module_hash = blake3::hash(source);
        self.dir.join(format!(
            "{}-{:016x}.cwasm",
            module_hash.to_hex(),
            engine_hash.finish()
        ))
    }

    /// The tag of `payload` stored as `entry`: binding the name means one
    /// sound entry cannot be passed off as another.
    /// (Keyed BLAKE3 is a MAC: BLAKE3's keyed mode, for this use.)
    fn tag(&self, entry: &Path, payload: &[u8]) -> blake3::Hash {
        let mut mac = blake3::Hasher::new_keyed(&self.key);
        let name = entry.file_name().unwrap_or_default().as_encoded_bytes();
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name);
        mac.update(payload);
        mac.finalize()
    }

    /// The module (or component) for `source`: from memory, else from the
    /// folder when an authentic entry exists, else compiled and stored.
    /// Cache trouble never fails the load; it only costs a compilation.
    pub(crate) fn load_or_compile<T: Compiled>(
        &self,
        engine: &Engine,
        source: &[u8],
    ) -> wasmtime::Result<T> {
        let entry = self.entry(engine, source);
        if let Some(module) = self.recent().get::<T>(&entry, engine) {
            return Ok(module);
        }
        if let Some((module, size)) = self.load::<T>(engine, &entry) {
            self.recent().put(&entry, size, module.clone());
            return Ok(module);
        }
        let module = T::compile(engine, source)?;
        match self.store(&entry, &module) {
            Ok(size) => self.recent().put(&entry, size, module.clone()),
            Err(e) => {
                tracing::warn!(entry = %entry.display(), "cannot write the module cache: {e:#}");
            }
        }
        Ok(module)
    }

    /// Reads an authentic entry and its compiled size; removes any other.
    fn load<T: Compiled>(&self, engine: &Engine, entry: &Path) -> Option<(T, usize)> {
        let bytes = std::fs::read(entry).ok()?;
        // `Hash`'s equality is constant-time.
        let authentic = bytes.len() > TAG_LEN
            && <[u8; TAG_LEN]>::try_from(&bytes[..TAG_LEN]).is_ok_and(|stored| {
                self.tag(entry, &bytes[TAG_LEN..]) == blake3::Hash::from(stored)
            });
        let module = if authentic {
            // SAFETY: the payload is byte for byte what `store` wrote from
            // `Module::serialize` under this name: its MAC under the host's
            // secret key matches, and nobody without the key can make one
            // that does. wasmtime also checks the engine compatibility header.
            unsafe { T::deserialize(engine, &bytes[TAG_LEN..]) }.ok()
        } else {
            None
        };
        if module.is_none() {
            tracing::warn!(entry = %entry.display(), "discarding a module cache entry that is forged, corrupt or incompatible; recompiling");
            let _ = std::fs::remove_file(entry);
        }
        module.map(|module| (module, bytes.len() - TAG_LEN))
    }

    /// Writes the entry; the compiled size.
    fn store<T: Compiled>(&self, entry: &Path, module: &T) -> wasmtime::Result<usize> {
        let payload = module.serialize()?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(self.tag(entry, &payload).as_bytes())?;
        file.write_all(&payload)?;
        file.persist(entry)?;
        Ok(payload.len())
    }
}

/// What the cache keeps: core modules and components (clones share the
/// compiled code).
pub(crate) trait Compiled: Sized + Clone + Send + Sync + 'static {
    /// Compiles `source`.
    fn compile(engine: &Engine, source: &[u8]) -> wasmtime::Result<Self>;
    /// The compiled form, for the cache.
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
    /// Loads a compiled form.
    ///
    /// # Safety
    /// `bytes` must come from [`Compiled::serialize`] (the cache checks
    /// their MAC first).
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
    /// The engine it was compiled for.
    fn engine(&self) -> &Engine;
}

impl Compiled for Module {
    fn compile(engine: &Engine, source: &[u8]) -> wasmtime::Result<Self> {
        Module::new(engine, source)
    }

    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        Module::serialize(self)
    }

    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract.
        unsafe { Module::deserialize(engine, bytes) }
    }

    fn engine(&self) -> &Engine {
        Module::engine(self)
    }
}

impl Compiled for wasmtime::component::Component {
    fn compile(engine: &Engine, source: &[u8]) -> wasmtime::Result<Self> {
        Self::new(engine, source)
    }

    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::component::Component::serialize(self)
    }

    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract.
        unsafe { wasmtime::component::Component::deserialize(engine, bytes) }
    }

    fn engine(&self) -> &Engine {
        wasmtime::component::Component::engine(self)
    }
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
        let cache = ModuleCache::open(&dir.path().join("cache"))
            .unwrap()
            .with_memory_budget(0);
        let first = cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        assert_eq!(answer(&engine, &first), 42);
        let stored = entries(&dir.path().join("cache"));
        assert_eq!(stored.len(), 1);
        let written = std::fs::metadata(&stored[0]).unwrap().modified().unwrap();
        let second = cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
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
        let cache = ModuleCache::open(&dir.path().join("cache"))
            .unwrap()
            .with_memory_budget(0);
        cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        let entry = entries(&dir.path().join("cache")).remove(0);
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
            let module = cache
                .load_or_compile::<Module>(&engine, MODULE.as_bytes())
                .unwrap();
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
        let cache = ModuleCache::open(&dir.path().join("cache"))
            .unwrap()
            .with_memory_budget(0);
        cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        let other = MODULE.replace("42", "7");
        let module = cache
            .load_or_compile::<Module>(&engine, other.as_bytes())
            .unwrap();
        assert_eq!(answer(&engine, &module), 7);
        assert_eq!(entries(&dir.path().join("cache")).len(), 2);
    }

    #[test]
    fn a_cache_whose_folder_went_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(&dir.path().join("cache"))
            .unwrap()
            .with_memory_budget(0);
        std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
        let module = cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        assert_eq!(answer(&engine, &module), 42);
    }

    #[test]
    fn hosts_opening_a_new_cache_at_once_share_one_whole_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        let keys: Vec<[u8; KEY_LEN]> = std::thread::scope(|s| {
            let opened: Vec<_> = (0..8)
                .map(|_| s.spawn(|| *ModuleCache::open(&cache_dir).unwrap().key))
                .collect();
            opened.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "one key for all");
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".key-")
            })
            .count();
        assert_eq!(leftovers, 0, "staged keys are removed");
    }

    #[test]
    fn the_folder_and_key_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        ModuleCache::open(&cache_dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&cache_dir), 0o700);
        let key = ModuleCache::key_path(&cache_dir);
        assert_eq!(key, dir.path().join("cache.key"));
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::read(&key).unwrap().len(), KEY_LEN);
        // The same key next time.
        let again = ModuleCache::open(&cache_dir).unwrap();
        assert_eq!(&again.key[..], &std::fs::read(&key).unwrap()[..]);
        std::fs::write(&key, b"short").unwrap();
        assert!(ModuleCache::open(&cache_dir).is_err());
    }

    #[test]
    fn forged_and_swapped_entries_are_never_deserialized() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ModuleCache::open(&dir.path().join("cache"))
            .unwrap()
            .with_memory_budget(0);
        let other = MODULE.replace("42", "7");
        let entry = cache.entry(&engine, MODULE.as_bytes());
        let other_entry = cache.entry(&engine, other.as_bytes());
        cache
            .load_or_compile::<Module>(&engine, other.as_bytes())
            .unwrap();

        // Swapped: another module's authentic entry under this name.
        std::fs::copy(&other_entry, &entry).unwrap();
        let module = cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        assert_eq!(
            answer(&engine, &module),
            42,
            "the swapped entry was not used"
        );

        // Forged: a payload tagged under another key (as someone who can
        // write the folder, but not read the key, would make it).
        let payload = Module::new(&engine, other.as_bytes())
            .unwrap()
            .serialize()
            .unwrap();
        let forger = ModuleCache {
            key: Arc::new([7; KEY_LEN]),
            ..cache.clone()
        };
        let mut forged = forger.tag(&entry, &payload).as_bytes().to_vec();
        forged.extend_from_slice(&payload);
        std::fs::write(&entry, &forged).unwrap();
        let module = cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        assert_eq!(
            answer(&engine, &module),
            42,
            "the forged entry was not used"
        );
        assert_ne!(std::fs::read(&entry).unwrap(), forged, "rebuilt");
    }

    #[test]
    fn recent_modules_are_served_from_memory_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let folder = dir.path().join("cache");
        let cache = ModuleCache::open(&folder).unwrap();
        cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        // The entry on disk gone bad: memory still has the module, so the
        // folder is not even read.
        let entry = entries(&folder).remove(0);
        std::fs::write(&entry, b"junk").unwrap();
        let module = cache
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        assert_eq!(answer(&engine, &module), 42);
        assert_eq!(std::fs::read(&entry).unwrap(), b"junk", "not read");

        // A budget that holds one module: the older goes.
        let size = cache.recent().bytes;
        assert!(size > 0);
        let small = ModuleCache::open(&folder)
            .unwrap()
            .with_memory_budget(size + size / 2);
        let other = MODULE.replace("42", "7");
        small
            .load_or_compile::<Module>(&engine, other.as_bytes())
            .unwrap();
        small
            .load_or_compile::<Module>(&engine, MODULE.as_bytes())
            .unwrap();
        let kept: Vec<PathBuf> = small.recent().entries.iter().map(|e| e.0.clone()).collect();
        assert_eq!(
            kept,
            std::slice::from_ref(&entry),
            "only the most recent is kept"
        );
        assert!(small.recent().bytes <= size + size / 2);
        // Nothing kept with a zero budget.
        let none = ModuleCache::open(&folder).unwrap().with_memory_budget(0);
        none.load_or_compile::<Module>(&engine, other.as_bytes())
            .unwrap();
        assert!(none.recent().entries.is_empty());
        // The same module put twice (two loads that both missed) is one entry.
        let twice = ModuleCache::open(&folder).unwrap();
        let module = Module::new(&engine, MODULE.as_bytes()).unwrap();
        twice.recent().put(&entry, 10, module.clone());
        twice.recent().put(&entry, 10, module);
        assert_eq!(twice.recent().entries.len(), 1);
        assert_eq!(twice.recent().bytes, 10);
    }
}
