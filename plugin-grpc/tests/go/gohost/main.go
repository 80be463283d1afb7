// A Go host for a plugin of this workspace's SDK, on hashicorp/go-plugin's
// own client (plugin.NewClient, Dispense), as flowbot's GrpcRunner is; with
// -automtls, AutoMTLS on (which flowbot's runner does not turn on).
//
// Usage: gohost [-automtls] BINARY
//
// It starts the plugin, sends Init, calls Help, Command ("hello Go") and
// AbilityCall (greet_remote), prints one line per answer (`help=...`,
// `command=...`, `ability_call=...`, `ready=...`), asks the plugin to shut
// down and exits 0; on any error it prints `error: ...` and exits 1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/flowbot-rs/plugin-grpc/interop/wire"
)

func fail(format string, args ...any) {
	fmt.Printf("error: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	automtls := flag.Bool("automtls", false, "negotiate go-plugin's AutoMTLS")
	flag.Parse()
	if flag.NArg() != 1 {
		fail("usage: gohost [-automtls] BINARY")
	}
	contract, err := wire.Load("")
	if err != nil {
		fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          map[string]goplugin.Plugin{"module": &wire.Dispensed{}},
		Cmd:              exec.Command(flag.Arg(0)),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         *automtls,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		fail("connect: %v", err)
	}
	raw, err := rpc.Dispense("module")
	if err != nil {
		fail("dispense: %v", err)
	}
	conn := raw.(*grpc.ClientConn)
	init := contract.Input("PluginService", "Init")
	wire.Set(init, "config", `{"greeting":"Hi"}`)
	if _, err := contract.Call(ctx, conn, "PluginService", "Init", init); err != nil {
		fail("init: %v", err)
	}
	help, err := contract.Call(ctx, conn, "PluginService", "Help", &emptypb.Empty{})
	if err != nil || wire.String(help, "error") != "" {
		fail("help: %v %s", err, errorOf(help))
	}
	fmt.Printf("help=%s\n", wire.String(help, "help"))
	command := contract.Input("PluginService", "Command")
	wire.Set(command, "context", `{}`)
	wire.Set(command, "content", `"hello Go"`)
	answer, err := contract.Call(ctx, conn, "PluginService", "Command", command)
	if err != nil || wire.String(answer, "error") != "" {
		fail("command: %v %s", err, errorOf(answer))
	}
	fmt.Printf("command=%s\n", wire.String(answer, "payload"))
	ability := contract.Input("PluginService", "AbilityCall")
	wire.Set(ability, "operation", "greet_remote")
	wire.Set(ability, "params", `{"name":"Gopher"}`)
	answer, err = contract.Call(ctx, conn, "PluginService", "AbilityCall", ability)
	if err != nil || wire.String(answer, "error") != "" {
		fail("ability_call: %v %s", err, errorOf(answer))
	}
	fmt.Printf("ability_call=%s\n", wire.String(answer, "result"))
	ready, err := contract.Call(ctx, conn, "PluginService", "IsReady", &emptypb.Empty{})
	if err != nil {
		fail("is_ready: %v", err)
	}
	fmt.Printf("ready=%t\n", wire.Bool(ready, "ready"))
	fmt.Printf("protocol=%d\n", client.NegotiatedVersion())
}

// errorOf is the answer's `error` field, if there is an answer.
func errorOf(answer *dynamicpb.Message) string {
	if answer == nil {
		return ""
	}
	return wire.String(answer, "error")
}
