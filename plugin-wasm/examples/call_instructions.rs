//! Makes N calls of the echo guest one way, for counting instructions with
//! valgrind: timings on a shared machine are noisy, instruction counts are
//! not. The cost of one call is the difference between two runs:
//!
//! ```text
//! cargo build --release -p plugin-wasm --example call_instructions
//! for n in 20000 60000; do
//!   valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     target/release/examples/call_instructions runner $n
//! done   # (I refs at 60000 - I refs at 20000) / 40000
//! ```
//!
//! Ways, each as the `call_100b` bench of the same name: `runner`
//! (`WasmRunner::call`), `bare` (the bare typed-function floor),
//! `bare_async` (the same calls with `call_async`) and `decode` (the
//! envelope decode); and for components (after `cargo xtask examples`),
//! `component` (`hello-component`'s echo through `WasmRunner::call`) and
//! `bare_component` (the same on bare wasmtime); and `sdk_echo` /
//! `sdk_noop`, the peer bench's `plugin-sdk` guest through the runner.

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../benches/support/bare_component.rs"]
mod bare_component;
#[path = "../benches/support/echo.rs"]
mod echo;
#[path = "../../test-support/examples.rs"]
mod examples;

use std::hint::black_box;

use echo::{bare_echo, bare_echo_async, bare_store, decode, fixture, params, runner};
use plugin_core::Runner;
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1);
    let way = args.next().unwrap_or_else(|| "runner".into());
    let n: u64 = args.next().map_or(20_000, |n| n.parse().unwrap());
    let params = params();
    let bytes = params.get().as_bytes();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    match way.as_str() {
        "runner" => {
            let fixture = fixture();
            let runner = runner();
            rt.block_on(async {
                runner.load(&fixture.manifest).await.unwrap();
                runner.start(&json!({})).await.unwrap();
                for _ in 0..n {
                    black_box(runner.call("echo", black_box(&params)).await.unwrap());
                }
            });
        }
        "bare" => {
            let (mut store, floor) = bare_store(&rt, false);
            for _ in 0..n {
                black_box(bare_echo(&mut store, &floor, black_box(bytes)));
            }
        }
        "bare_async" => {
            let (mut store, floor) = bare_store(&rt, true);
            rt.block_on(async {
                for _ in 0..n {
                    black_box(bare_echo_async(&mut store, &floor, black_box(bytes)).await);
                }
            });
        }
        "decode" => {
            let envelope = format!(r#"{{"data":{}}}"#, params.get());
            for _ in 0..n {
                black_box(decode(black_box(envelope.as_bytes())));
            }
        }
        "sdk_echo" | "sdk_noop" => {
            // The peer bench's guest (`plugin-sdk`, `cargo xtask examples`).
            let module = examples::built().wasm.join("sdk_echo.wasm");
            let manifest = plugin_core::Manifest::parse(&format!(
                "name: sdk\nruntime: wasm\nwasm: {{module: {}}}\n",
                module.display()
            ))
            .unwrap();
            let null = serde_json::value::RawValue::from_string("null".into()).unwrap();
            let (function, params) = if way == "sdk_echo" {
                ("echo", &params)
            } else {
                ("noop", &null)
            };
            let runner = runner();
            rt.block_on(async {
                runner.load(&manifest).await.unwrap();
                runner.start(&json!({})).await.unwrap();
                for _ in 0..n {
                    black_box(runner.call(function, black_box(params)).await.unwrap());
                }
            });
        }
        "component" => {
            let manifest = plugin_core::Manifest::from_file(
                &examples::workspace().join("examples/plugins/hello-component"),
            )
            .unwrap();
            let runner = runner();
            rt.block_on(async {
                runner.load(&manifest).await.unwrap();
                runner.start(&json!({})).await.unwrap();
                for _ in 0..n {
                    black_box(runner.call("echo", black_box(&params)).await.unwrap());
                }
            });
        }
        "bare_component" => rt.block_on(async {
            let (mut store, call) = bare_component::instantiate().await;
            for _ in 0..n {
                let (out,) = call
                    .call_async(&mut store, ("echo", black_box(params.get())))
                    .await
                    .unwrap();
                black_box(out.unwrap());
            }
        }),
        other => panic!(
            "unknown way {other}: runner, bare, bare_async, decode, sdk_echo, sdk_noop, component or bare_component"
        ),
    }
}
