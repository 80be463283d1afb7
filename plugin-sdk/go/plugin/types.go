package plugin

// HTTPRequest is a request for the host's HTTP service (flowbot's JSON;
// Go writes Body as base64, as the host expects).
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"`
}

// HTTPResponse is the host's answer to an HTTPRequest.
type HTTPResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// DataEvent is flowbot's event, as the host's event bus carries it.
type DataEvent struct {
	EventID        string         `json:"event_id,omitempty"`
	EventType      string         `json:"event_type"`
	Source         string         `json:"source,omitempty"`
	Capability     string         `json:"capability,omitempty"`
	Operation      string         `json:"operation,omitempty"`
	App            string         `json:"app,omitempty"`
	EntityID       string         `json:"entity_id,omitempty"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
	UID            string         `json:"uid,omitempty"`
	Topic          string         `json:"topic,omitempty"`
	Data           map[string]any `json:"data,omitempty"`
	Tags           map[string]any `json:"tags,omitempty"`
}
