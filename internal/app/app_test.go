package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/testenv"
)

// TestServeWritesCPUProfile: with CPU_PROFILE_DIR set, a server that stops
// leaves its CPU profile (gzip-compressed protobuf) named by its app-id.
func TestServeWritesCPUProfile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CPU_PROFILE_DIR", dir)
	t.Setenv("APP_ID", "probe")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), "127.0.0.1:0", http.NotFoundHandler())
	}()
	var files []string
	require.Eventually(t, func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "probe-*.pprof"))
		return len(files) == 1
	}, 10*time.Second, 10*time.Millisecond, "the profile is created when serving starts")
	cancel()
	require.NoError(t, <-done)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.Greater(t, len(b), 2)
	assert.Equal(t, []byte{0x1f, 0x8b}, b[:2], "a gzip-compressed pprof profile, flushed on stop")
}

// TestServeEndsStreamsWhenStopping: a response that lasts until Stopping
// closes (an event stream) ends as the drain begins, so Serve stops
// cleanly instead of failing its drain's deadline with the stream open.
func TestServeEndsStreamsWhenStopping(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	streaming := make(chan struct{})
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		close(streaming)
		select {
		case <-Stopping(r.Context()):
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), addr, stream) }()
	var resp *http.Response
	var err error
	require.Eventually(t, func() bool {
		resp, err = http.Get("http://" + addr + "/")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the server answers")
	defer resp.Body.Close()
	<-streaming
	cancel()
	require.NoError(t, <-done, "the drain ends: the open stream ended when stopping began")
	_, err = io.ReadAll(resp.Body)
	assert.NoError(t, err, "the stream ended as a response ends, not cut off")
}

// TestStoppingOutsideServe: a request not served by Serve has no stopping
// signal (a nil channel, never ready in a select).
func TestStoppingOutsideServe(t *testing.T) {
	assert.Nil(t, Stopping(context.Background()))
}
