package etcd

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"

	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that hands embedded etcd's zap entries to a
// slog.Handler, so that skiff logs through one logger. Entries below min are
// dropped before any field is encoded, which keeps the chatty info level of
// etcd free. Once quiet is set (while the member shuts down) every entry is
// dropped: etcd reports the teardown of its own listeners and streams as
// errors, and those lines would only alarm a reader.
type slogCore struct {
	h     slog.Handler
	min   zapcore.Level
	quiet *atomic.Bool
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return l >= c.min && !c.quiet.Load() && c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	if len(fields) == 0 {
		return c
	}
	return &slogCore{h: c.h.WithAttrs(attrs(fields)), min: c.min, quiet: c.quiet}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(attrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

// slogLevel maps zap's levels (debug -1 ... fatal 5, one apart) onto slog's
// (debug -4, info 0, warn 4, error 8); the panic and fatal levels stay errors.
func slogLevel(l zapcore.Level) slog.Level {
	if l > zapcore.ErrorLevel {
		return slog.LevelError
	}
	return slog.Level(int(l) * 4)
}

// attrs encodes zap fields as slog attributes in key order.
func attrs(fields []zapcore.Field) []slog.Attr {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		out = append(out, slog.Any(k, enc.Fields[k]))
	}
	return out
}
