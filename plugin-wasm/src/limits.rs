//! The resource limits of one instance's store.

use wasmtime::ResourceLimiter;

/// Most table elements a guest may have, all its tables together
/// (function tables of large programs stay far below this).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Most linear memories one store may hold: a component is several core
/// instances, a core module may declare several memories, and each
/// memory reserves address space of its own.
const MAX_MEMORIES: usize = 16;
/// Most tables one store may hold.
const MAX_TABLES: usize = 64;
/// Most core instances one store may hold (a component's included).
const MAX_INSTANCES: usize = 256;

/// Caps linear memory at the manifest's `memory.max`, all of a store's
/// memories together (a component's core instances, a module's several
/// memories), and its tables and instances; remembers whether the guest
/// ran into the memory cap so the failure can be reported as a limit.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    /// The bytes of every memory of the store, as last granted (a memory
    /// is never freed before its store).
    memory_bytes: usize,
    table_elements: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            memory_bytes: 0,
            table_elements: 0,
            hit: false,
        }
    }

    /// The cap, in bytes.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Whether a growth (or the initial size) was refused.
    pub(crate) fn hit(&self) -> bool {
        self.hit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A growth that then fails for another reason stays counted: the
        // count can only overstate what the store holds.
        let total = (self.memory_bytes - current.min(self.memory_bytes)).saturating_add(desired);
        let allowed = total <= self.max_bytes;
        if allowed {
            self.memory_bytes = total;
        }
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total =
            (self.table_elements - current.min(self.table_elements)).saturating_add(desired);
        let allowed = total <= MAX_TABLE_ELEMENTS;
        if allowed {
            self.table_elements = total;
        }
        Ok(allowed)
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
}
