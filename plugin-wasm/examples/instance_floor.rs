//! The floor of creating an instance on bare wasmtime, with either
//! instance allocator (issue 15: "measure both allocators"): a module
//! loaded once, then N times a new store with WASI, instantiation, the
//! WASI initialiser when exported, and (unless `NOCALL` is set) a first
//! call of `alloc`, which enters wasm through a fiber and touches the heap.
//!
//! ```text
//! cargo build --release -p plugin-wasm --example instance_floor
//! target/release/examples/instance_floor MODULE.wasm            # on-demand
//! POOLING=1 target/release/examples/instance_floor MODULE.wasm  # pooling
//! ```
//!
//! Under `POOLING`, `RESIDENT=BYTES` keeps that much of each memory and
//! table slot resident between instances, and `STACK=BYTES` that much of
//! each async stack. `NOCOW` turns copy-on-write memory images off.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a measuring tool

use std::time::{Duration, Instant};

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store,
};
use wasmtime_wasi::p1::WasiP1Ctx;

fn bytes(var: &str) -> Option<usize> {
    std::env::var(var).ok().map(|v| v.parse().unwrap())
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: instance_floor MODULE.wasm");
    let pooling = std::env::var_os("POOLING").is_some();
    let mut config = Config::new();
    config.epoch_interruption(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_memories(100)
            .total_tables(100)
            .total_core_instances(100)
            .total_stacks(100)
            .max_memory_size(4 << 30);
        if let Some(resident) = bytes("RESIDENT") {
            pool.linear_memory_keep_resident(resident)
                .table_keep_resident(resident);
        }
        if let Some(resident) = bytes("STACK") {
            pool.async_stack_keep_resident(resident);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    if std::env::var_os("NOCOW").is_some() {
        config.memory_init_cow(false);
    }
    let call = std::env::var_os("NOCALL").is_none();
    let engine = Engine::new(&config).unwrap();
    let module = Module::from_file(&engine, &path).unwrap();
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |ctx| ctx).unwrap();
    linker.define_unknown_imports_as_traps(&module).unwrap();
    let pre = linker.instantiate_pre(&module).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = 2000;
        let mut total = Duration::ZERO;
        for _ in 0..n {
            let start = Instant::now();
            let mut store = Store::new(&engine, wasmtime_wasi::WasiCtxBuilder::new().build_p1());
            store.set_epoch_deadline(1 << 40);
            let instance = pre.instantiate_async(&mut store).await.unwrap();
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call_async(&mut store, ()).await.unwrap();
            }
            if call {
                let alloc = instance
                    .get_typed_func::<i32, i32>(&mut store, "alloc")
                    .unwrap();
                alloc.call_async(&mut store, 100).await.unwrap();
            }
            drop(store);
            total += start.elapsed();
        }
        println!(
            "{} allocator{}: {:.1} µs an instance",
            if pooling { "pooling" } else { "on-demand" },
            if call { ", with a first call" } else { "" },
            (total / n).as_secs_f64() * 1e6
        );
    });
}
