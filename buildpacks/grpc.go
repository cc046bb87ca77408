package buildpacks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// The gRPC service between pier and a buildpack plugin is written by hand:
// two methods whose messages travel as JSON, so no generated code is needed.
//
//	Detect(detectRequest) returns (detectResponse)
//	Build(BuildRequest) returns (stream buildMessage)
const (
	serviceName = "pier.buildpacks.v1.Buildpack"
	codecName   = "pier-json"
	// maxLine bounds one streamed log message; longer lines are split.
	maxLine = 32 << 10
)

type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
func (jsonCodec) Name() string                       { return codecName }

func init() { encoding.RegisterCodec(jsonCodec{}) }

type detectRequest struct {
	Dir string `json:"dir"`
}

type detectResponse struct {
	Detection Detection `json:"detection"`
}

// buildMessage is one message of the Build stream: a line of output, or
// the result as the last message.
type buildMessage struct {
	Line   string       `json:"line,omitempty"`
	Result *BuildResult `json:"result,omitempty"`
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*Buildpack)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Detect", Handler: detectHandler}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Build",
		Handler:       buildHandler,
		ServerStreams: true,
	}},
	Metadata: "buildpacks/grpc.go",
}

func detectHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	var req detectRequest
	if err := dec(&req); err != nil {
		return nil, err
	}
	call := func(ctx context.Context, r any) (any, error) {
		d, err := srv.(Buildpack).Detect(ctx, r.(*detectRequest).Dir)
		if err != nil {
			return nil, err
		}
		return &detectResponse{Detection: d}, nil
	}
	if interceptor == nil {
		return call(ctx, &req)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + serviceName + "/Detect"}
	return interceptor(ctx, &req, info, call)
}

func buildHandler(srv any, stream grpc.ServerStream) error {
	var req BuildRequest
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	lw := &lineSender{stream: stream}
	res, err := srv.(Buildpack).Build(stream.Context(), req, lw)
	if ferr := lw.flush(); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	return stream.SendMsg(&buildMessage{Result: &res})
}

// lineSender streams what a buildpack writes to the host one line at a time.
type lineSender struct {
	mu     sync.Mutex
	stream grpc.ServerStream
	buf    []byte
}

func (l *lineSender) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 && len(l.buf) < maxLine {
			return len(p), nil
		}
		n := i + 1
		if i < 0 || n > maxLine {
			n = maxLine
		}
		if err := l.stream.SendMsg(&buildMessage{Line: string(l.buf[:n])}); err != nil {
			return 0, err
		}
		l.buf = l.buf[n:]
	}
}

func (l *lineSender) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	err := l.stream.SendMsg(&buildMessage{Line: string(l.buf) + "\n"})
	l.buf = nil
	return err
}

// grpcClient is a Buildpack served by a plugin process.
type grpcClient struct {
	conn *grpc.ClientConn
}

var _ Buildpack = (*grpcClient)(nil)

func (c *grpcClient) Detect(ctx context.Context, dir string) (Detection, error) {
	var resp detectResponse
	err := c.conn.Invoke(ctx, "/"+serviceName+"/Detect", &detectRequest{Dir: dir}, &resp, grpc.CallContentSubtype(codecName))
	if err != nil {
		return Detection{}, fromStatus(ctx, err)
	}
	return resp.Detection, nil
}

// Build streams the plugin's output into log as it comes. If writing to log
// fails (the output cap is reached, the git client went away), the build is
// abandoned with that error.
func (c *grpcClient) Build(ctx context.Context, req BuildRequest, log io.Writer) (BuildResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.conn.NewStream(ctx, &serviceDesc.Streams[0], "/"+serviceName+"/Build", grpc.CallContentSubtype(codecName))
	if err != nil {
		return BuildResult{}, fromStatus(ctx, err)
	}
	if err := stream.SendMsg(&req); err != nil {
		return BuildResult{}, fromStatus(ctx, err)
	}
	if err := stream.CloseSend(); err != nil {
		return BuildResult{}, fromStatus(ctx, err)
	}
	var res *BuildResult
	for {
		var m buildMessage
		err := stream.RecvMsg(&m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return BuildResult{}, fromStatus(ctx, err)
		}
		if m.Line != "" {
			if _, err := io.WriteString(log, m.Line); err != nil {
				return BuildResult{}, err
			}
		}
		if m.Result != nil {
			res = m.Result
		}
	}
	if res == nil {
		return BuildResult{}, errPluginGone
	}
	return *res, nil
}

// errPluginGone means the plugin process stopped answering mid-call.
var errPluginGone = errors.New("the buildpack process exited before finishing")

// fromStatus turns a gRPC error back into the buildpack's own message.
func fromStatus(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		// The plugin may see the propagated deadline a moment before
		// this side's ctx does.
		return context.DeadlineExceeded
	case codes.Unavailable, codes.Canceled:
		return fmt.Errorf("%w (%s)", errPluginGone, st.Message())
	case codes.Unknown:
		return errors.New(st.Message())
	}
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}
