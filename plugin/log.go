package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// LogHandler sends slog records to lightningd's log as `log` notifications,
// mapping slog levels onto lightningd's (debug, info, warn, error).
type LogHandler struct {
	out   *messageWriter
	level slog.Leveler
	attrs string
	group string
}

// NewLogHandler logs at level and above.
func NewLogHandler(out *messageWriter, level slog.Leveler) *LogHandler {
	return &LogHandler{out: out, level: level}
}

func (h *LogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *LogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	h.out.send(map[string]any{
		"jsonrpc": "2.0",
		"method":  "log",
		"params":  map[string]string{"level": lightningLevel(r.Level), "message": b.String()},
	})
	return nil
}

func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range attrs {
		writeAttr(&b, h.group, a)
	}
	c := *h
	c.attrs += b.String()
	return &c
}

func (h *LogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.group += name + "."
	return &c
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	fmt.Fprintf(b, " %s%s=%v", group, a.Key, a.Value.Resolve())
}

func lightningLevel(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warn"
	case l >= slog.LevelInfo:
		return "info"
	default:
		return "debug"
	}
}
