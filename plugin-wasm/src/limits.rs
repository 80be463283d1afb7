//! The resource limits of one instance's store.

use wasmtime::ResourceLimiter;

/// Most table elements a guest may have (function tables of large programs
/// stay far below this).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Caps linear memory at the manifest's `memory.max`, and remembers whether
/// the guest ran into the cap so the failure can be reported as a limit.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
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
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
