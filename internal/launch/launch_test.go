package launch

import (
	"context"
	"fmt"
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

func port(t *testing.T) int {
	p, err := freePort()
	require.NoError(t, err)
	return p
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
	none := ""
	runtime, err := filepath.Abs("../../tools/dapr-runtime")
	require.NoError(t, err)
	rf := &RunFile{Version: 1, Apps: []App{{
		AppID: "orphan-test", AppDirPath: ".", Command: []string{"sh", "-c", script},
		AppPort: port(t), DaprHTTPPort: port(t), DaprGRPCPort: port(t), MetricsPort: port(t),
		Shared: Shared{RuntimePath: runtime, ConfigFilePath: filepath.Join(runtime, "..", "..", "components", "config.yaml"),
			ResourcesPaths: []string{dir}, PlacementHostAddress: &none, SchedulerHostAddress: &none,
			DaprdLogDestination: LogConsole, AppLogDestination: LogConsole},
	}}}
	require.NoError(t, rf.Resolve(dir))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Start(ctx, rf, Options{Env: map[string]string{"DAPRD": daprd}, Log: testWriter{t}})
	require.NoError(t, err)

	pids := st.Pids()
	require.Len(t, pids, 2)
	// The shell creates child.pid before it writes the pid into it: wait
	// for a whole number, not for the file.
	readChild := func() int {
		var pid int
		require.Eventually(t, func() bool {
			b, err := os.ReadFile(childPid)
			if err != nil {
				return false
			}
			pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil
		}, 5*time.Second, 10*time.Millisecond, "the app never wrote its child's pid")
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

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
