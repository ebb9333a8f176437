package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/testenv"
)

// TestListensOnLoopbackOnly checks every socket the apps and their sidecars
// listen on (TCP and UDP): nothing may be reachable beyond 127.0.0.1.
func TestListensOnLoopbackOnly(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Fatal("ss (iproute2) is needed to list listening sockets")
	}
	stack := testenv.StartStack(t, testenv.StackOptions{})
	pids := map[int]string{}
	if stack.Launched == nil {
		t.Fatalf("E2E_PROFILE=%s: this test reads the local launcher's processes", testenv.Profile())
	}
	for name, pid := range stack.Launched.Pids() {
		pids[pid] = name
	}
	out, err := exec.Command("ss", "-H", "-lntup").CombinedOutput()
	require.NoError(t, err, "%s", out)
	pidRe := regexp.MustCompile(`pid=(\d+)`)
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		for _, m := range pidRe.FindAllStringSubmatch(line, -1) {
			pid, _ := strconv.Atoi(m[1])
			name, ours := pids[pid]
			if !ours {
				continue
			}
			seen++
			local := f[4]
			assert.True(t, strings.HasPrefix(local, "127.0.0.1:") || strings.HasPrefix(local, "[::1]:"),
				"%s listens on %s (%s)", name, local, f[0])
		}
	}
	assert.GreaterOrEqual(t, seen, len(pids), "every app and sidecar listens somewhere")
}
