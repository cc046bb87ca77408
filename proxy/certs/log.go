package certs

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newZapLogger sends certmagic's warnings and errors to logf, one line
// each; nil logf discards them.
func newZapLogger(logf func(string, ...any)) *zap.Logger {
	if logf == nil {
		return zap.NewNop()
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "" // the caller's log adds its own time
	enc.CallerKey = ""
	enc.StacktraceKey = ""
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(logfWriter(logf)), zapcore.WarnLevel)
	return zap.New(core).Named("certs")
}

type logfWriter func(string, ...any)

func (w logfWriter) Write(p []byte) (int, error) {
	w("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
