//! The pooling allocator's fixed capacity, and how plugins share it.
//!
//! wasmtime's pooling allocator reserves its slots up front: memories,
//! tables, instances and fiber stacks for a fixed number of instances,
//! which makes creating an instance a matter of taking a warm slot (one of
//! the same module's, with its memory image already mapped, when there is
//! one). The slots are shared by every plugin on the engine, so each plugin
//! reserves its `pool.max_instances` of them when it is loaded, and gives
//! them back when its runner is dropped: one plugin's pool can never take
//! the slots another's was promised. A plugin that does not fit is refused
//! at load, naming what it asked and the setting that would allow it.

use std::sync::{Arc, Mutex};

use plugin_types::WasmPooling;
use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Core instances one plugin instance takes: its module's and the call
/// shim's. It also takes one linear memory.
const CORE_INSTANCES_PER_INSTANCE: u32 = 2;
/// Fiber stacks one plugin instance may hold at once: its call's, and the
/// one a host function's call of the guest's `alloc` runs on (the host
/// functions refuse to nest deeper).
const STACKS_PER_INSTANCE: u32 = 2;
/// Tables one plugin instance takes: the guest's and the shim's.
const TABLES_PER_INSTANCE: u32 = 2;

/// Most bytes of a freed slot's linear memory kept resident and reset in
/// place; beyond it, pages are unmapped.
const KEEP_RESIDENT_MEMORY: usize = 1 << 20;
/// The same for a table and for a fiber stack.
const KEEP_RESIDENT_OTHER: usize = 64 << 10;

/// Most elements of one table slot: the guest's function table (large
/// programs stay well below it) and the shim's.
pub const MAX_TABLE_ELEMENTS: usize = 1 << 16;

/// The allocation strategy `pooling` sizes: slots for its `instances`
/// plugin instances (each a core instance of its module and one of the
/// call shim, one memory, two tables, two fiber stacks), each memory slot
/// of `max_memory`.
///
/// Each slot reserves address space for `max_memory` (plus wasmtime's
/// guard region), not memory: 128 slots of 4 GiB take 512 GiB of the
/// process's 128 TiB address space and no RAM until a guest touches it.
pub(crate) fn strategy(pooling: &WasmPooling) -> InstanceAllocationStrategy {
    let instances = pooling.instances;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_INSTANCE))
        .total_memories(instances)
        .total_tables(instances.saturating_mul(TABLES_PER_INSTANCE))
        .total_stacks(instances.saturating_mul(STACKS_PER_INSTANCE))
        .total_component_instances(0)
        .max_memory_size(usize::try_from(pooling.max_memory.bytes()).unwrap_or(usize::MAX))
        .table_elements(MAX_TABLE_ELEMENTS);
    // A freed slot keeps the pages its guest dirtied (found with
    // Linux's PAGEMAP_SCAN, 6.7 and later) and copies them back to the
    // memory image, rather than unmapping them: the next instance then
    // takes no page faults on them. Older kernels unmap as before.
    pool.pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_OTHER)
        .async_stack_keep_resident(KEEP_RESIDENT_OTHER);
    InstanceAllocationStrategy::Pooling(pool)
}

/// The instance slots not yet reserved by a loaded plugin.
#[derive(Debug)]
pub(crate) struct Slots {
    limits: WasmPooling,
    free: Mutex<u32>,
}

/// Slots reserved by one plugin, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    slots: Arc<Slots>,
    count: u32,
}

/// Why a plugin's reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolingRefusal {
    /// The plugin's pool asks more instances than are left.
    #[error(
        "wasm.pool.max_instances {asked} asks more instance slots than the host's wasm \
         pooling allocator has free ({free} of {total}); lower it, unload another wasm \
         plugin, or raise the host's `plugins.wasm.pooling.instances`"
    )]
    Instances {
        /// The plugin's `pool.max_instances`.
        asked: u32,
        /// Slots not reserved by other plugins.
        free: u32,
        /// The pool's size.
        total: u32,
    },
    /// The module needs more than one instance's slots hold.
    #[error(
        "the module does not fit a slot of the host's wasm pooling allocator (one memory \
         of {max_memory} bytes, one table of {MAX_TABLE_ELEMENTS} elements): {needs}; run \
         it without `plugins.wasm.pooling`"
    )]
    Module {
        /// What wasmtime found it needs.
        needs: String,
        /// The slot's memory size, in bytes.
        max_memory: u64,
    },
    /// The plugin's memory is larger than a slot.
    #[error(
        "wasm.permissions.memory.max {asked} bytes is larger than a slot of the host's wasm \
         pooling allocator ({max} bytes); lower it or raise the host's \
         `plugins.wasm.pooling.max_memory`"
    )]
    Memory {
        /// The plugin's `memory.max`, in bytes.
        asked: u64,
        /// The slot size, in bytes.
        max: u64,
    },
}

impl Slots {
    pub(crate) fn new(limits: WasmPooling) -> Arc<Self> {
        Arc::new(Self {
            limits,
            free: Mutex::new(limits.instances),
        })
    }

    pub(crate) fn limits(&self) -> &WasmPooling {
        &self.limits
    }

    /// Reserves `instances` slots of at most `memory` bytes each.
    pub(crate) fn reserve(
        self: &Arc<Self>,
        instances: u32,
        memory: u64,
    ) -> Result<Reservation, PoolingRefusal> {
        let max = self.limits.max_memory.bytes();
        if memory > max {
            return Err(PoolingRefusal::Memory { asked: memory, max });
        }
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if instances > *free {
            return Err(PoolingRefusal::Instances {
                asked: instances,
                free: *free,
                total: self.limits.instances,
            });
        }
        *free -= instances;
        Ok(Reservation {
            slots: self.clone(),
            count: instances,
        })
    }

    /// A compilation refused by wasmtime's own check of the pool's limits,
    /// as a refusal naming the setting.
    pub(crate) fn refusal(&self, error: &wasmtime::Error) -> Option<PoolingRefusal> {
        let message = format!("{error:#}");
        message
            .contains("pooling allocator")
            .then_some(PoolingRefusal::Module {
                needs: message,
                max_memory: self.limits.max_memory.bytes(),
            })
    }

    /// Slots not reserved.
    pub(crate) fn free(&self) -> u32 {
        *self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut free = self.slots.free.lock().unwrap_or_else(|p| p.into_inner());
        *free = free
            .saturating_add(self.count)
            .min(self.slots.limits.instances);
    }
}

#[cfg(test)]
mod tests {
    use plugin_types::ByteSize;

    use super::*;

    #[test]
    fn reservations_are_kept_apart_and_given_back() {
        let slots = Slots::new(WasmPooling {
            instances: 6,
            max_memory: ByteSize::mib(1),
        });
        let first = slots.reserve(4, 1 << 20).unwrap();
        assert_eq!(
            slots.reserve(3, 1 << 16).unwrap_err(),
            PoolingRefusal::Instances {
                asked: 3,
                free: 2,
                total: 6
            }
        );
        let second = slots.reserve(2, 1 << 16).unwrap();
        assert_eq!(slots.free(), 0);
        drop(first);
        assert_eq!(slots.free(), 4);
        drop(second);
        assert_eq!(slots.free(), 6);
    }

    #[test]
    fn a_memory_larger_than_a_slot_is_refused_with_the_setting() {
        let slots = Slots::new(WasmPooling {
            instances: 6,
            max_memory: ByteSize::mib(1),
        });
        let refusal = slots.reserve(1, (1 << 20) + 1).unwrap_err();
        let message = refusal.to_string();
        assert!(
            message.contains("wasm.permissions.memory.max 1048577"),
            "{message}"
        );
        assert!(
            message.contains("plugins.wasm.pooling.max_memory"),
            "{message}"
        );
        assert_eq!(slots.free(), 6);
    }
}
