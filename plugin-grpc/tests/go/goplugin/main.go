// A plugin written in Go on hashicorp/go-plugin's own Serve, as a third
// party would write one: it serves the flowbot PluginService (the contract
// in proto/plugin.proto, through package wire), with AutoMTLS whenever the
// host asks for it (go-plugin does that by itself).
//
// Command "remember X" stores X through the host's HostService, dialled over
// go-plugin's broker (id 1, the id the host announces it on, also sent in
// InitRequest.broker_id), and answers what the host's KV then holds: a round
// trip plugin -> host -> plugin. Command "tls" answers whether the host
// asked for AutoMTLS. AbilityCall echoes its operation and params.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/flowbot-rs/plugin-grpc/interop/wire"
)

type module struct {
	contract *wire.Contract
	broker   *goplugin.GRPCBroker

	mu       sync.Mutex
	brokerID uint32
	host     *grpc.ClientConn
}

func (m *module) hostConn() (*grpc.ClientConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.host == nil {
		if m.brokerID == 0 {
			return nil, fmt.Errorf("the host offers no HostService")
		}
		conn, err := m.broker.Dial(m.brokerID)
		if err != nil {
			return nil, err
		}
		m.host = conn
	}
	return m.host, nil
}

func (m *module) handlers() map[string]wire.Handler {
	c := m.contract
	text := func(s string) (proto.Message, error) {
		payload, _ := json.Marshal(map[string]string{"type": "text", "text": s})
		return wire.Set(c.Message("CommandResponse"), "payload", string(payload)), nil
	}
	failed := func(message string) (proto.Message, error) {
		return wire.Set(c.Message("CommandResponse"), "error", message), nil
	}
	return map[string]wire.Handler{
		"Init": func(_ context.Context, r *dynamicpb.Message) (proto.Message, error) {
			m.mu.Lock()
			m.brokerID = uint32(r.Get(r.Descriptor().Fields().ByName("broker_id")).Uint())
			m.mu.Unlock()
			return c.Message("InitResponse"), nil
		},
		"Help": func(context.Context, *dynamicpb.Message) (proto.Message, error) {
			help, _ := json.Marshal(map[string][]string{"go": {"remember X - stores X in the host", "tls - whether AutoMTLS is on"}})
			return wire.Set(c.Message("HelpResponse"), "help", string(help)), nil
		},
		"IsReady": func(context.Context, *dynamicpb.Message) (proto.Message, error) {
			return wire.Set(c.Message("IsReadyResponse"), "ready", true), nil
		},
		"Bootstrap": func(context.Context, *dynamicpb.Message) (proto.Message, error) {
			return &emptypb.Empty{}, nil
		},
		"Command": func(ctx context.Context, r *dynamicpb.Message) (proto.Message, error) {
			var content string
			if err := json.Unmarshal([]byte(wire.String(r, "content")), &content); err != nil {
				return failed("content is not a JSON string")
			}
			switch {
			case content == "tls":
				return text(fmt.Sprintf("automtls=%t", os.Getenv("PLUGIN_CLIENT_CERT") != ""))
			case strings.HasPrefix(content, "remember "):
				conn, err := m.hostConn()
				if err != nil {
					return failed("no host service: " + err.Error())
				}
				value := strings.TrimPrefix(content, "remember ")
				set := wire.Set(wire.Set(c.Message("KVSetRequest"), "key", "memo"), "value", []byte(value))
				if _, err := c.Call(ctx, conn, "HostService", "KVSet", set); err != nil {
					return failed("kv set: " + err.Error())
				}
				got, err := c.Call(ctx, conn, "HostService", "KVGet", wire.Set(c.Message("KVGetRequest"), "key", "memo"))
				if err != nil {
					return failed("kv get: " + err.Error())
				}
				return text("the host holds " + wire.String(got, "value"))
			default:
				return failed(fmt.Sprintf("unknown command %q", content))
			}
		},
		"AbilityCall": func(_ context.Context, r *dynamicpb.Message) (proto.Message, error) {
			result, _ := json.Marshal(map[string]any{
				"text": "go did " + wire.String(r, "operation"),
				"data": json.RawMessage(wire.String(r, "params")),
			})
			return wire.Set(c.Message("CallResponse"), "result", string(result)), nil
		},
	}
}

type modulePlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	contract *wire.Contract
}

func (p *modulePlugin) GRPCServer(broker *goplugin.GRPCBroker, s *grpc.Server) error {
	m := &module{contract: p.contract, broker: broker}
	p.contract.Register(s, "PluginService", m.handlers())
	return nil
}

func (*modulePlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("a plugin has no client side")
}

func main() {
	contract, err := wire.Load(os.Getenv("FLOWBOT_PLUGIN_PROTO"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         map[string]goplugin.Plugin{"module": &modulePlugin{contract: contract}},
		GRPCServer:      goplugin.DefaultGRPCServer,
	})
}
