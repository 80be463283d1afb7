// hello-go: the greeting plugin of hello-wasm, in Go, on the core-wasm ABI
// (docs/wasm-abi.md) through the Go package in plugin-sdk/go.
//
// Build it with `cargo xtask examples`, or by hand in this folder:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello_go.wasm .
//
// and call it with `pluginctl call examples/plugins/hello-go greet '{"name":"Ada"}'`.
package main

import (
	"fmt"
	"strconv"
	"strings"

	"plugin-runtime.dev/sdk/plugin"
)

// Each plugin function is one export handing its call to a typed handler.

//go:wasmexport greet
func greetExport(ptr, size uint32) uint64 { return plugin.Call(ptr, size, greet) }

//go:wasmexport help
func helpExport(ptr, size uint32) uint64 { return plugin.Call(ptr, size, help) }

//go:wasmexport command
func commandExport(ptr, size uint32) uint64 { return plugin.Call(ptr, size, command) }

//go:wasmexport ability_call
func abilityCallExport(ptr, size uint32) uint64 { return plugin.Call(ptr, size, abilityCall) }

//go:wasmexport fetch
func fetchExport(ptr, size uint32) uint64 { return plugin.Call(ptr, size, fetch) }

//go:wasmexport echo
func echoExport(ptr, size uint32) uint64 { return plugin.Call(ptr, size, echo) }

//go:wasmexport call_host
func callHostExport(ptr, size uint32) uint64 { return plugin.Call(ptr, size, callHost) }

func main() {} // a reactor: the host calls the exports above

type greetParams struct {
	Name string `json:"name"`
}

type greeting struct {
	Text  string `json:"text"`
	Total uint64 `json:"total"`
}

// greet is the ability operation greeting/greet_go.
func greet(p greetParams) (greeting, error) {
	text, ok, err := plugin.Config("greeting")
	if err != nil {
		return greeting{}, err
	}
	if !ok {
		text = "Hello"
	}
	name := p.Name
	if name == "" {
		name = "world"
	}
	total, err := count()
	if err != nil {
		return greeting{}, err
	}
	total++
	if err := plugin.KVSet("greetings", []byte(strconv.FormatUint(total, 10))); err != nil {
		return greeting{}, err
	}
	if err := plugin.EmitEvent(plugin.DataEvent{
		EventType:  "greeting.sent",
		Capability: "greeting",
		Operation:  "greet",
		EntityID:   name,
		Data:       map[string]any{"total": total},
	}); err != nil {
		return greeting{}, err
	}
	plugin.Logf(plugin.Info, "greeted %s (#%d)", name, total)
	return greeting{Text: fmt.Sprintf("%s, %s!", text, name), Total: total}, nil
}

func count() (uint64, error) {
	stored, ok, err := plugin.KVGet("greetings")
	if err != nil || !ok {
		return 0, err
	}
	n, _ := strconv.ParseUint(string(stored), 10, 64)
	return n, nil
}

func help(struct{}) (map[string][]string, error) {
	return map[string][]string{
		"hello": {"hello [name] - greets you", "count - greetings so far"},
	}, nil
}

type commandParams struct {
	Content any `json:"content"`
}

type reply struct {
	Text string `json:"text"`
}

// command answers `hello [name]` and `count`.
func command(p commandParams) (reply, error) {
	text, _ := p.Content.(string)
	text = strings.TrimSpace(text)
	verb, rest, _ := strings.Cut(text, " ")
	switch verb {
	case "hello":
		g, err := greet(greetParams{Name: strings.TrimSpace(rest)})
		return reply{Text: g.Text}, err
	case "count":
		n, err := count()
		return reply{Text: fmt.Sprintf("%d greetings so far", n)}, err
	}
	return reply{}, fmt.Errorf("unknown command %q; try `hello`", text)
}

type abilityParams struct {
	Operation string      `json:"operation"`
	Params    greetParams `json:"params"`
}

func abilityCall(p abilityParams) (greeting, error) {
	if p.Operation == "greet_go" {
		return greet(p.Params)
	}
	return greeting{}, fmt.Errorf("unknown operation %q", p.Operation)
}

type fetchParams struct {
	URL string `json:"url"`
}

type fetched struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

// fetch GETs a URL through the host's HTTP service (as the policy grants).
func fetch(p fetchParams) (fetched, error) {
	response, err := plugin.HTTP(plugin.HTTPRequest{Method: "GET", URL: p.URL})
	if err != nil {
		return fetched{}, err
	}
	return fetched{Status: response.Status, Body: string(response.Body)}, nil
}

func echo(v any) (any, error) { return v, nil }

type callHostParams struct {
	Name  string `json:"name"`
	Input any    `json:"input"`
}

// callHost calls a host function by name: one the host registered, such as
// an embedder's `weather.lookup`, or a built-in such as `kv.get`.
func callHost(p callHostParams) (any, error) {
	return plugin.CallHost[any](p.Name, p.Input)
}
