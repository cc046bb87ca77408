package buildpacks

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is shared by pier and every buildpack plugin. A plugin built
// against another ProtocolVersion is refused with a clear message.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PIER_BUILDPACK_PLUGIN",
	MagicCookieValue: "d1c1b4c8-3d7e-4a0e-9a53-buildpack",
}

// PluginName is the name a buildpack is dispensed under.
const PluginName = "buildpack"

// PluginMap is the plugin set pier asks a plugin process for.
var PluginMap = map[string]plugin.Plugin{PluginName: &GRPCPlugin{}}

// GRPCPlugin carries a Buildpack over go-plugin's gRPC transport.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Buildpack // set in the plugin process
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the buildpack service in the plugin process.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, p.Impl)
	return nil
}

// GRPCClient returns the Buildpack pier calls in the host process.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &grpcClient{conn: c}, nil
}

// ServePlugin serves bp over go-plugin until the host stops the process. A
// third-party buildpack is a program whose main calls it.
func ServePlugin(bp Buildpack) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         map[string]plugin.Plugin{PluginName: &GRPCPlugin{Impl: bp}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// Serve serves the built-in buildpack name; `pier buildpack serve NAME`
// calls it. The classic adapter ("classic") takes the buildpack directory
// from $PIER_CLASSIC_BUILDPACK, which the Builder sets.
func Serve(name string) error {
	bp, ok := Builtin(name)
	if !ok {
		return fmt.Errorf("unknown built-in buildpack %q: the built-ins are %v", name, BuiltinNames())
	}
	if err := limitOwnMemory(os.Getenv(memoryLimitEnv)); err != nil {
		return err
	}
	ServePlugin(bp)
	return nil
}
