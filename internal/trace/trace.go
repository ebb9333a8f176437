// Package trace carries a W3C traceparent through IntelliDox: from an API
// request (or a new root) through the outbox, the sidecars and every event,
// so that one upload is one trace from the api through the extractor to the
// scanners. Dapr makes the spans; the apps only propagate the context.
package trace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
)

type ctxKey struct{}

// With returns ctx carrying traceparent tp.
func With(ctx context.Context, tp string) context.Context {
	if !Valid(tp) {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, tp)
}

// From returns the traceparent in ctx, or "".
func From(ctx context.Context) string {
	tp, _ := ctx.Value(ctxKey{}).(string)
	return tp
}

// New returns a fresh sampled traceparent.
func New() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// Valid reports whether tp is a well-formed version-00 traceparent.
func Valid(tp string) bool {
	p := strings.Split(tp, "-")
	if len(p) != 4 || p[0] != "00" || len(p[1]) != 32 || len(p[2]) != 16 || len(p[3]) != 2 {
		return false
	}
	for _, s := range p[1:] {
		if _, err := hex.DecodeString(s); err != nil {
			return false
		}
	}
	return p[1] != strings.Repeat("0", 32) && p[2] != strings.Repeat("0", 16)
}

// ID returns the trace id of tp, or "".
func ID(tp string) string {
	if !Valid(tp) {
		return ""
	}
	return tp[3:35]
}

// Middleware takes the request's traceparent, or starts a new trace, and
// returns it to the client in the traceparent response header.
func Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp := r.Header.Get("traceparent")
		if !Valid(tp) {
			tp = New()
		}
		w.Header().Set("traceparent", tp)
		next.ServeHTTP(w, r.WithContext(With(r.Context(), tp)))
	})
}

// LogHandler adds trace_id to every record logged with a context that
// carries a traceparent.
type LogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := ID(From(ctx)); id != "" {
		r.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h LogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h LogHandler) WithGroup(name string) slog.Handler { return LogHandler{h.Handler.WithGroup(name)} }
