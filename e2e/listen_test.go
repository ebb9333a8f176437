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
// listen on (TCP and UDP): nothing may be reachable beyond 127.0.0.1. On
// the k8s profile a pod's address is how the kubelet, Services and the
// other sidecars reach it, so there the rule is that a pod listens beyond
// its loopback only on the ports its spec declares or probes (the injected
// daprd's included), which the NetworkPolicies and Services then govern.
func TestListensOnLoopbackOnly(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Fatal("ss (iproute2) is needed to list listening sockets")
	}
	stack := testenv.StartStack(t, testenv.StackOptions{})
	if testenv.Profile() == "k8s" {
		podsListenOnDeclaredPorts(t)
		return
	}
	pids := map[int]string{}
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

func podsListenOnDeclaredPorts(t *testing.T) {
	pods := testenv.K8s(t).Listeners(t)
	require.NotEmpty(t, pods)
	for _, p := range pods {
		require.NotEmpty(t, p.Sockets, "pod %s listens nowhere", p.Pod)
		for _, s := range p.Sockets {
			addr := s[strings.IndexByte(s, ' ')+1:]
			if loopback(addr) {
				continue
			}
			port, err := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
			require.NoError(t, err, s)
			assert.Contains(t, p.Declared, port, "pod %s listens on %s, a port its spec neither declares nor probes (those: %v)", p.Pod, s, p.Declared)
		}
	}
}

func loopback(addr string) bool {
	return strings.HasPrefix(addr, "127.") || strings.HasPrefix(addr, "[::1]:") || strings.HasPrefix(addr, "[::ffff:127.")
}
