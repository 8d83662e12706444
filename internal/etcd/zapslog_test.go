package etcd

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestSlogCore(t *testing.T) {
	tests := []struct {
		name  string
		quiet bool
		log   func(*zap.Logger)
		want  []string
	}{
		{
			name: "info is dropped",
			log:  func(l *zap.Logger) { l.Info("chatty", zap.String("k", "v")) },
		},
		{
			name: "warn is forwarded with fields",
			log:  func(l *zap.Logger) { l.Warn("slow apply", zap.Int("took-ms", 120), zap.String("member", "a")) },
			want: []string{`level=WARN msg="slow apply" member=a took-ms=120`},
		},
		{
			name: "error keeps With fields and logger name",
			log: func(l *zap.Logger) {
				l.Named("raft").With(zap.String("id", "x")).Error("lost leader")
			},
			want: []string{`level=ERROR msg="lost leader" id=x logger=raft`},
		},
		{
			name:  "quiet drops everything",
			quiet: true,
			log:   func(l *zap.Logger) { l.Error("listener closed") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			quiet := new(atomic.Bool)
			quiet.Store(tt.quiet)
			tt.log(zap.New(&slogCore{h: h, min: zapcore.WarnLevel, quiet: quiet}))
			var got []string
			for line := range strings.Lines(buf.String()) {
				got = append(got, strings.TrimSpace(line))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("logged lines (-want +got):\n%s", diff)
			}
		})
	}
}
