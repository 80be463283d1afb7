package plugin

import (
	"encoding/json"
)

var (
	onInit func(config json.RawMessage) error
	ready  = true
	config json.RawMessage
)

// OnInit sets the function run with the plugin's configuration (JSON)
// when an instance starts, before its first call; an error fails the start
// with its message. Call it from a Go `init` function.
func OnInit(f func(config json.RawMessage) error) {
	onInit = f
}

// Configuration is the configuration JSON the instance was started with.
func Configuration() json.RawMessage {
	return config
}

// SetReady sets what `is_ready` answers (true until set).
func SetReady(value bool) {
	ready = value
}

// init is the ABI's `init(ptr, len) -> envelope`: the configuration.
//
//go:wasmexport init
func initExport(ptr, size uint32) uint64 {
	config = json.RawMessage(take(ptr, size))
	if onInit != nil {
		if err := onInit(config); err != nil {
			return envelope(nil, err)
		}
	}
	return envelope(nil, nil)
}

// isReady is the ABI's `is_ready() -> i32`.
//
//go:wasmexport is_ready
func isReady() int32 {
	if ready {
		return 1
	}
	return 0
}

// Call runs `handler` for one call of an exported function: it decodes
// the params JSON the host passed at (ptr, size) into P (`null` or empty
// params leave P at its zero value), and returns the packed result
// envelope, `{"data": R}` or `{"error": "..."}`.
func Call[P any, R any](ptr, size uint32, handler func(P) (R, error)) uint64 {
	params := take(ptr, size)
	var p P
	if len(params) > 0 {
		if err := json.Unmarshal(params, &p); err != nil {
			return envelope(nil, &ParamsError{Err: err})
		}
	}
	result, err := handler(p)
	if err != nil {
		return envelope(nil, err)
	}
	return envelope(result, nil)
}

// ParamsError is params that did not decode into the handler's type.
type ParamsError struct {
	Err error
}

func (e *ParamsError) Error() string { return "invalid params: " + e.Err.Error() }

func (e *ParamsError) Unwrap() error { return e.Err }

// envelope encodes the ABI's result envelope and hands it to the host.
func envelope(data any, err error) uint64 {
	var encoded []byte
	if err != nil {
		encoded, _ = json.Marshal(struct {
			Error string `json:"error"`
		}{err.Error()})
	} else {
		var marshalErr error
		encoded, marshalErr = json.Marshal(struct {
			Data any `json:"data"`
		}{data})
		if marshalErr != nil {
			encoded, _ = json.Marshal(struct {
				Error string `json:"error"`
			}{"result is not JSON: " + marshalErr.Error()})
		}
	}
	return give(encoded)
}
