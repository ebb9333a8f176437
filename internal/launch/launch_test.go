package launch

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestNoOrphans runs an app beside a real daprd. The app starts a child of
// its own; stopping the stack must leave neither behind, and Kill/StartApp
// must restart an app in place.
func TestNoOrphans(t *testing.T) {
	daprd, err := FindDaprd("../..")
	require.NoError(t, err, "run scripts/daprd.sh")
	dir := t.TempDir()
	childPid := filepath.Join(dir, "child.pid")
	script := fmt.Sprintf(`sleep 300 & echo $! > %s; exec python3 -m http.server "$APP_PORT" --bind 127.0.0.1`, childPid)
	rf := &RunFile{Version: 1, dir: dir, Apps: []App{{
		AppID: "orphan-test", AppDirPath: ".", Command: []string{"sh", "-c", script},
		AppPort: freePort(t), DaprHTTPPort: freePort(t), DaprGRPCPort: freePort(t), MetricsPort: freePort(t),
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Start(ctx, rf, Options{Daprd: daprd, Log: io.Discard})
	require.NoError(t, err)

	pids := st.Pids()
	require.Len(t, pids, 2)
	readChild := func() int {
		b, err := os.ReadFile(childPid)
		require.NoError(t, err)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		require.NoError(t, err)
		return pid
	}
	child := readChild()
	require.True(t, alive(child))

	st.Kill("orphan-test", false)
	assert.False(t, st.Running("orphan-test"))
	assert.True(t, st.Running("orphan-test.daprd"), "killing the app leaves its sidecar")
	assert.Eventually(t, func() bool { return !alive(child) }, 5*time.Second, 10*time.Millisecond, "the app's child dies with it")
	require.NoError(t, os.Remove(childPid))
	require.NoError(t, st.startProcess("orphan-test", false))
	require.NoError(t, st.WaitHealthy(ctx, "orphan-test", 30*time.Second))
	require.Eventually(t, func() bool { _, err := os.Stat(childPid); return err == nil }, 5*time.Second, 10*time.Millisecond)
	child = readChild()

	st.Stop()
	for name, pid := range st.Pids() {
		t.Errorf("%s (pid %d) still running after Stop", name, pid)
	}
	for _, pid := range pids {
		assert.False(t, alive(pid), "pid %d survived Stop", pid)
	}
	assert.Eventually(t, func() bool { return !alive(child) }, 5*time.Second, 10*time.Millisecond, "no orphan grandchild")
}
