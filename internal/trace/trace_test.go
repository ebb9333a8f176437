package trace

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTraceparent(t *testing.T) {
	tp := New()
	assert.True(t, Valid(tp))
	assert.NotEqual(t, tp, New())
	assert.Len(t, ID(tp), 32)
	for _, bad := range []string{"", "00-abc-def-01", "01-" + tp[3:], "00-" + "00000000000000000000000000000000-0123456789abcdef-01",
		"00-0123456789abcdef0123456789abcdeg-0123456789abcdef-01"} {
		assert.False(t, Valid(bad), bad)
		assert.Empty(t, From(With(context.Background(), bad)))
	}
	assert.Equal(t, tp, From(With(context.Background(), tp)))
}

func TestMiddlewareAndLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler{slog.NewJSONHandler(&buf, nil)})
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "hello")
	}))
	given := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("traceparent", given)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	assert.Equal(t, given, w.Header().Get("traceparent"))
	assert.Contains(t, buf.String(), `"trace_id":"0af7651916cd43dd8448eb211c80319c"`)

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.True(t, Valid(w.Header().Get("traceparent")), "a request without one starts a trace")
}
