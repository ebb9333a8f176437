package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/testenv"
	"github.com/intellidox/intellidox/internal/trace"
)

type span struct {
	TraceID       string `json:"traceId"`
	Name          string `json:"name"`
	LocalEndpoint struct {
		ServiceName string `json:"serviceName"`
	} `json:"localEndpoint"`
}

// zipkin collects the spans the sidecars export (Zipkin v2 JSON).
type zipkin struct {
	mu    sync.Mutex
	spans []span
}

func (z *zipkin) services(traceID string) map[string]bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	out := map[string]bool{}
	for _, s := range z.spans {
		if s.TraceID == traceID {
			out[s.LocalEndpoint.ServiceName] = true
		}
	}
	return out
}

// TestOneUploadIsOneTrace checks that the traceparent of the confirm request
// carries through the outbox, the extractor and every scanner: the sidecars
// report spans of all of them under that one trace id.
func TestOneUploadIsOneTrace(t *testing.T) {
	z := &zipkin{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var batch []span
		if json.Unmarshal(b, &batch) == nil {
			z.mu.Lock()
			z.spans = append(z.spans, batch...)
			z.mu.Unlock()
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	l, err := net.Listen("tcp", net.JoinHostPort(testenv.CollectorHost(), "0"))
	require.NoError(t, err)
	srv.Listener = l
	srv.Start()
	defer srv.Close()

	stack := testenv.StartStack(t, testenv.StackOptions{Zipkin: srv.URL + "/api/v2/spans"})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := []byte("traced upload " + time.Now().String())
	cr, err := c.Create(ctx, client.CreateRequest{Name: "traced.txt", Size: int64(len(data)), SHA256: sha(data)})
	require.NoError(t, err)
	require.NoError(t, c.Put(ctx, &cr, strings.NewReader(string(data)), int64(len(data))))

	tp := trace.New()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, stack.API+"/v1/files/"+cr.ID+"/confirm", nil)
	req.Header.Set("Authorization", "Bearer "+stack.APIKey)
	req.Header.Set("traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, tp, resp.Header.Get("traceparent"))
	_, err = c.Wait(ctx, cr.ID)
	require.NoError(t, err)

	want := []string{"api", "extractor", "scanner-clamav", "scanner-yara", "scanner-reputation"}
	require.Eventually(t, func() bool {
		got := z.services(trace.ID(tp))
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "spans of one upload must come from %v; got %v", want, z.services(trace.ID(tp)))
}
