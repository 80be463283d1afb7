// Package wire speaks this workspace's plugin.proto from Go without
// generated code: it compiles proto/plugin.proto at run time (protocompile)
// and builds messages, calls and services with dynamicpb. The Go test
// programs use it so that they speak exactly the contract the Rust side is
// built from, and nothing here can drift from it.
package wire

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Package is plugin.proto's package.
const Package = "flowbot.plugin"

// Contract is plugin.proto, compiled.
type Contract struct {
	file protoreflect.FileDescriptor
}

// Load compiles the plugin.proto at path (by default $FLOWBOT_PLUGIN_PROTO).
func Load(path string) (*Contract, error) {
	if path == "" {
		path = os.Getenv("FLOWBOT_PLUGIN_PROTO")
	}
	if path == "" {
		return nil, fmt.Errorf("no plugin.proto: set FLOWBOT_PLUGIN_PROTO")
	}
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: []string{filepath.Dir(path)},
		}),
	}
	files, err := compiler.Compile(context.Background(), filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", path, err)
	}
	return &Contract{file: files[0]}, nil
}

// Message is a new, empty message of type `name` (without the package).
func (c *Contract) Message(name string) *dynamicpb.Message {
	desc := c.file.Messages().ByName(protoreflect.Name(name))
	if desc == nil {
		panic("plugin.proto has no message " + name)
	}
	return dynamicpb.NewMessage(desc)
}

// Set sets field `name` of m to value (a string, []byte, bool, uint32...).
func Set(m *dynamicpb.Message, name string, value any) *dynamicpb.Message {
	m.Set(field(m, name), protoreflect.ValueOf(value))
	return m
}

// String is the string (or bytes, as text) field `name` of m.
func String(m proto.Message, name string) string {
	dm := m.(*dynamicpb.Message)
	v := dm.Get(field(dm, name))
	if b, ok := v.Interface().([]byte); ok {
		return string(b)
	}
	return v.String()
}

// Bool is the bool field `name` of m.
func Bool(m *dynamicpb.Message, name string) bool {
	return m.Get(field(m, name)).Bool()
}

func field(m *dynamicpb.Message, name string) protoreflect.FieldDescriptor {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic(fmt.Sprintf("%s has no field %s", m.Descriptor().FullName(), name))
	}
	return fd
}

// method is the descriptor of service/method.
func (c *Contract) method(service, method string) protoreflect.MethodDescriptor {
	svc := c.file.Services().ByName(protoreflect.Name(service))
	if svc == nil {
		panic("plugin.proto has no service " + service)
	}
	md := svc.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		panic(service + " has no method " + method)
	}
	return md
}

// Call invokes service/method on conn with request; the answer is a
// message of the method's output type.
func (c *Contract) Call(ctx context.Context, conn grpc.ClientConnInterface, service, method string, request proto.Message) (*dynamicpb.Message, error) {
	md := c.method(service, method)
	answer := dynamicpb.NewMessage(md.Output())
	path := fmt.Sprintf("/%s.%s/%s", Package, service, method)
	if err := conn.Invoke(ctx, path, request, answer); err != nil {
		return nil, err
	}
	return answer, nil
}

// Input is a new, empty message of service/method's input type.
func (c *Contract) Input(service, method string) *dynamicpb.Message {
	return dynamicpb.NewMessage(c.method(service, method).Input())
}

// Handler answers one unary method.
type Handler func(ctx context.Context, request *dynamicpb.Message) (proto.Message, error)

// Register serves `handlers` (by method name) as `service` on s; methods
// without a handler answer UNIMPLEMENTED, as generated code does.
func (c *Contract) Register(s *grpc.Server, service string, handlers map[string]Handler) {
	svc := c.file.Services().ByName(protoreflect.Name(service))
	desc := grpc.ServiceDesc{
		ServiceName: fmt.Sprintf("%s.%s", Package, service),
		HandlerType: (*any)(nil),
		Metadata:    c.file.Path(),
	}
	for name, handle := range handlers {
		md := svc.Methods().ByName(protoreflect.Name(name))
		if md == nil {
			panic(service + " has no method " + name)
		}
		handle := handle
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: name,
			Handler: func(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				request := dynamicpb.NewMessage(md.Input())
				if err := decode(request); err != nil {
					return nil, err
				}
				return handle(ctx, request)
			},
		})
	}
	s.RegisterService(&desc, struct{}{})
}

// Handshake is flowbot's go-plugin handshake, as every program here uses it.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "FLOWBOT_PLUGIN",
	MagicCookieValue: "flowbot-plugin-v1",
}

// Dispensed is the host side of plugin "module": Dispense hands out the
// plugin's connection, and calls go through Contract.Call.
type Dispensed struct {
	goplugin.NetRPCUnsupportedPlugin
}

// GRPCServer is never used: a host serves nothing under this name.
func (*Dispensed) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error { return nil }

// GRPCClient returns the connection itself.
func (*Dispensed) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return conn, nil
}
