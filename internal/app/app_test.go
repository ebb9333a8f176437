package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
