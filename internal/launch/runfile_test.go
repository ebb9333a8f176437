package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadProjectRunFile checks the repository's dapr.yaml itself.
func TestLoadProjectRunFile(t *testing.T) {
	rf, err := Load("../../dapr.yaml")
	require.NoError(t, err)
	api := rf.App("api")
	require.NotNil(t, api)
	assert.Equal(t, 8080, api.AppPort)
	assert.Equal(t, 3500, api.DaprHTTPPort)
	ports := map[int]string{}
	for _, a := range rf.Apps {
		assert.NotEmpty(t, a.Command, a.AppID)
		assert.NotZero(t, a.DaprGRPCPort, a.AppID)
		for _, p := range []int{a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort} {
			if p == 0 {
				continue
			}
			prev, dup := ports[p]
			assert.False(t, dup, "port %d used by %s and %s", p, prev, a.AppID)
			ports[p] = a.AppID
		}
		for _, p := range rf.resources(a) {
			_, err := os.Stat(p)
			assert.NoError(t, err, "%s resources path", a.AppID)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := map[string]string{
		"version":      "version: 2\napps: []\n",
		"unknown key":  "version: 1\napps:\n  - appID: a\n    command: [x]\n    colour: red\n",
		"no appID":     "version: 1\napps:\n  - command: [x]\n",
		"duplicate id": "version: 1\napps:\n  - appID: a\n    command: [x]\n  - appID: a\n    command: [x]\n",
		"no command":   "version: 1\napps:\n  - appID: a\n",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "dapr.yaml")
			require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
			_, err := Load(p)
			assert.Error(t, err)
		})
	}
}

func TestDaprdArgs(t *testing.T) {
	rf := &RunFile{dir: "/repo", Common: Common{ResourcesPath: "./components/local", ConfigFilePath: "./components/config.yaml"}}
	s := &Stack{rf: rf, opts: Options{DaprLogLevel: "warn"}}
	args := strings.Join(s.daprdArgs(App{AppID: "api", AppPort: 1, DaprHTTPPort: 2, DaprGRPCPort: 3, MetricsPort: 4, AppMaxConcurrency: 5}), " ")
	for _, want := range []string{"--app-id api", "--app-port 1", "--dapr-http-port 2", "--dapr-grpc-port 3",
		"--metrics-port 4", "--app-max-concurrency 5", "--resources-path /repo/components/local",
		"--config /repo/components/config.yaml", "--dapr-listen-addresses 127.0.0.1", "--metrics-listen-address 127.0.0.1"} {
		assert.Contains(t, args, want)
	}
	s.opts.ResourcesPaths = []string{"/other"}
	args = strings.Join(s.daprdArgs(App{AppID: "api"}), " ")
	assert.Contains(t, args, "--resources-path /other")
	assert.NotContains(t, args, "components/local")
}
