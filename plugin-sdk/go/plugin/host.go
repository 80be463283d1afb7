package plugin

import (
	"encoding/json"
	"fmt"
	"runtime"
	"unsafe"
)

// The host's `flowbot` imports (docs/wasm-abi.md, "What the host provides").

//go:wasmimport flowbot get_config
func hostGetConfig(key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport flowbot log
func hostLog(level int32, msg unsafe.Pointer, msgLen uint32)

//go:wasmimport flowbot kv_get
func hostKVGet(key unsafe.Pointer, keyLen uint32) int64

//go:wasmimport flowbot kv_set
func hostKVSet(key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32) int32

//go:wasmimport flowbot kv_delete
func hostKVDelete(key unsafe.Pointer, keyLen uint32) int32

//go:wasmimport flowbot http_request
func hostHTTPRequest(request unsafe.Pointer, requestLen uint32) int64

//go:wasmimport flowbot emit_event
func hostEmitEvent(event unsafe.Pointer, eventLen uint32) int32

//go:wasmimport flowbot host_call
func hostCall(name unsafe.Pointer, nameLen uint32, input unsafe.Pointer, inputLen uint32) int64

// HostError is a host import that failed; the host logged why under the
// plugin's name.
type HostError struct {
	// Import is the host function that failed, e.g. "kv_get".
	Import string
}

func (e *HostError) Error() string { return "host " + e.Import + " failed" }

func status(code int32, what string) error {
	if code == 1 {
		return nil
	}
	return &HostError{Import: what}
}

// Config is the configuration value at the dotted `key` (`db.host`):
// strings as they are, other values as JSON. `ok` is false when absent.
func Config(key string) (value string, ok bool, err error) {
	ptr, size := ptrLen(key)
	bytes, ok, err := received(hostGetConfig(ptr, size), "get_config")
	runtime.KeepAlive(key)
	return string(bytes), ok, err
}

// Level is a log level.
type Level int32

// The host's log levels.
const (
	Debug Level = 0
	Info  Level = 1
	Warn  Level = 2
	Error Level = 3
)

// Log writes `message` to the host's log under the plugin's name.
func Log(level Level, message string) {
	ptr, size := ptrLen(message)
	hostLog(int32(level), ptr, size)
	runtime.KeepAlive(message)
}

// Logf formats, then logs.
func Logf(level Level, format string, args ...any) {
	Log(level, fmt.Sprintf(format, args...))
}

// KVGet reads `key` from the plugin's own store; `ok` is false when absent.
func KVGet(key string) (value []byte, ok bool, err error) {
	ptr, size := ptrLen(key)
	value, ok, err = received(hostKVGet(ptr, size), "kv_get")
	runtime.KeepAlive(key)
	return value, ok, err
}

// KVSet writes `value` at `key` in the plugin's own store.
func KVSet(key string, value []byte) error {
	keyPtr, keySize := ptrLen(key)
	code := hostKVSet(keyPtr, keySize, unsafe.Pointer(unsafe.SliceData(value)), uint32(len(value)))
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	return status(code, "kv_set")
}

// KVDelete removes `key` (absent keys are fine).
func KVDelete(key string) error {
	ptr, size := ptrLen(key)
	code := hostKVDelete(ptr, size)
	runtime.KeepAlive(key)
	return status(code, "kv_delete")
}

// HTTP sends `request` through the host's HTTP service, which checks it
// against the plugin's `wasm.permissions.http` grants.
func HTTP(request HTTPRequest) (HTTPResponse, error) {
	var response HTTPResponse
	encoded, err := json.Marshal(request)
	if err != nil {
		return response, err
	}
	bytes, _, err := received(hostHTTPRequest(unsafe.Pointer(unsafe.SliceData(encoded)), uint32(len(encoded))), "http_request")
	runtime.KeepAlive(encoded)
	if err != nil {
		return response, err
	}
	var envelope struct {
		Data  *HTTPResponse `json:"data"`
		Error string        `json:"error"`
	}
	if err := json.Unmarshal(bytes, &envelope); err != nil {
		return response, fmt.Errorf("host http_request answered malformed JSON: %w", err)
	}
	if envelope.Error != "" {
		return response, fmt.Errorf("%s", envelope.Error)
	}
	if envelope.Data == nil {
		return response, fmt.Errorf("host http_request answered no response")
	}
	return *envelope.Data, nil
}

// CallHost calls the host function `name` (one the host registered, or a
// built-in such as "kv.get") with `input` as JSON, and decodes its answer
// as Out. Input and answer are at most 1 MiB of JSON each; the host tells
// the function which plugin calls.
func CallHost[Out any](name string, input any) (Out, error) {
	var out Out
	encoded, err := json.Marshal(input)
	if err != nil {
		return out, err
	}
	namePtr, nameSize := ptrLen(name)
	bytes, _, err := received(hostCall(namePtr, nameSize, unsafe.Pointer(unsafe.SliceData(encoded)), uint32(len(encoded))), "host_call")
	runtime.KeepAlive(name)
	runtime.KeepAlive(encoded)
	if err != nil {
		return out, err
	}
	var envelope struct {
		Data  json.RawMessage `json:"data"`
		Error string          `json:"error"`
	}
	if err := json.Unmarshal(bytes, &envelope); err != nil {
		return out, fmt.Errorf("host host_call answered malformed JSON: %w", err)
	}
	if envelope.Error != "" {
		return out, fmt.Errorf("%s", envelope.Error)
	}
	if len(envelope.Data) == 0 {
		envelope.Data = json.RawMessage("null")
	}
	if err := json.Unmarshal(envelope.Data, &out); err != nil {
		return out, fmt.Errorf("the answer of %s: %w", name, err)
	}
	return out, nil
}

// EmitEvent publishes `event`; the host sets its Source to the plugin's
// name, whatever it says.
func EmitEvent(event DataEvent) error {
	encoded, err := json.Marshal(event)
	if err != nil {
		return err
	}
	code := hostEmitEvent(unsafe.Pointer(unsafe.SliceData(encoded)), uint32(len(encoded)))
	runtime.KeepAlive(encoded)
	return status(code, "emit_event")
}
