// The go-plugin side of the gRPC peer bench (issue 15): a host on
// hashicorp/go-plugin's own client (plugin.NewClient, Dispense), calling a
// plugin's AbilityCall the way flowbot's Go host does. Its twin on our side
// is plugin-grpc's `grpc_peer_host` example; `cargo xtask peer-grpc` drives both
// round by round.
//
// Usage: gobench BINARY (FLOWBOT_PLUGIN_PROTO names plugin.proto; the plugin
// inherits it). It starts the plugin, prints `ready <µs to first answer>`,
// then answers one line per command on stdin:
//
//	call N    N sequential AbilityCalls; prints `p50 p99` in ns
//	par4 N    4 goroutines, N calls each, on the one connection; calls/s
//	spawn K   K times: start a fresh plugin, Init, first AbilityCall; K µs values
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/flowbot-rs/plugin-grpc/interop/wire"
)

// Params is the bench's payload (85 bytes), the same as the wasm bench's.
const Params = `{"user":"u-123456","channel":"c-98765","text":"hello there, plugin","n":42,"ok":true}`

type host struct {
	contract *wire.Contract
	binary   string
}

// plugin is one running plugin and its connection.
type plugin struct {
	client *goplugin.Client
	conn   *grpc.ClientConn
}

func (h *host) start() (*plugin, error) {
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          map[string]goplugin.Plugin{"module": &wire.Dispensed{}},
		Cmd:              exec.Command(h.binary),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, err
	}
	raw, err := rpc.Dispense("module")
	if err != nil {
		client.Kill()
		return nil, err
	}
	p := &plugin{client: client, conn: raw.(*grpc.ClientConn)}
	init := h.contract.Input("PluginService", "Init")
	wire.Set(init, "config", `{}`)
	if _, err := h.contract.Call(context.Background(), p.conn, "PluginService", "Init", init); err != nil {
		client.Kill()
		return nil, err
	}
	return p, nil
}

// call is one AbilityCall, with a deadline as the Rust runner sends one.
func (h *host) call(p *plugin) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	request := h.contract.Input("PluginService", "AbilityCall")
	wire.Set(request, "operation", "echo")
	wire.Set(request, "params", Params)
	answer, err := h.contract.Call(ctx, p.conn, "PluginService", "AbilityCall", request)
	if err != nil {
		return err
	}
	if e := wire.String(answer, "error"); e != "" {
		return fmt.Errorf("the plugin says %s", e)
	}
	return nil
}

// spawn is a fresh plugin to its first answer, in µs.
func (h *host) spawn() (float64, error) {
	began := time.Now()
	p, err := h.start()
	if err != nil {
		return 0, err
	}
	err = h.call(p)
	took := float64(time.Since(began).Nanoseconds()) / 1e3
	p.client.Kill()
	return took, err
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench BINARY")
		os.Exit(2)
	}
	contract, err := wire.Load("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h := &host{contract: contract, binary: os.Args[1]}
	began := time.Now()
	p, err := h.start()
	if err == nil {
		err = h.call(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	defer p.client.Kill()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %.0f\n", float64(time.Since(began).Nanoseconds())/1e3)
	out.Flush()

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) != 2 {
			fmt.Fprintln(os.Stderr, "bad line:", in.Text())
			os.Exit(2)
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "bad count:", in.Text())
			os.Exit(2)
		}
		switch fields[0] {
		case "call":
			times := make([]time.Duration, n)
			for i := range times {
				t := time.Now()
				if err := h.call(p); err != nil {
					fmt.Fprintln(os.Stderr, "call:", err)
					os.Exit(1)
				}
				times[i] = time.Since(t)
			}
			sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
			fmt.Fprintf(out, "%d %d\n", times[n/2].Nanoseconds(), times[n*99/100].Nanoseconds())
		case "par4":
			var wg sync.WaitGroup
			var failed error
			var once sync.Once
			t := time.Now()
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						if err := h.call(p); err != nil {
							once.Do(func() { failed = err })
							return
						}
					}
				}()
			}
			wg.Wait()
			if failed != nil {
				fmt.Fprintln(os.Stderr, "par4:", failed)
				os.Exit(1)
			}
			fmt.Fprintf(out, "%.0f\n", float64(4*n)/time.Since(t).Seconds())
		case "spawn":
			values := make([]string, n)
			for i := range values {
				took, err := h.spawn()
				if err != nil {
					fmt.Fprintln(os.Stderr, "spawn:", err)
					os.Exit(1)
				}
				values[i] = fmt.Sprintf("%.0f", took)
			}
			fmt.Fprintln(out, strings.Join(values, " "))
		default:
			fmt.Fprintln(os.Stderr, "unknown command:", fields[0])
			os.Exit(2)
		}
		out.Flush()
	}
}
