// Package plugin is the Go side of the runtime's core-wasm guest ABI
// (docs/wasm-abi.md): write a flowbot plugin in Go, build it with Go's own
// toolchain for WASI preview 1 as a reactor, and load it into a host with
// `runtime: wasm`.
//
// The package exports the ABI's `alloc`, `free`, `init` and `is_ready`, and
// wraps the host's `flowbot` imports (config, log, KV, HTTP, events, and
// [CallHost] for any host function by name). Each
// plugin function is an export of its own, one line that hands the call to
// [Call] with a typed handler:
//
//	//go:wasmexport greet
//	func greet(ptr, size uint32) uint64 { return plugin.Call(ptr, size, Greet) }
//
//	func Greet(p struct{ Name string `json:"name"` }) (map[string]any, error) {
//		greeting, _, err := plugin.Config("greeting")
//		...
//	}
//
//	func main() {} // required by Go; never run in a reactor
//
// Build (Go 1.24 or newer; `go:wasmexport` needs it):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// Go components of the WASI 0.2 world need TinyGo; the core ABI is Go's
// way in with the standard toolchain.
package plugin
