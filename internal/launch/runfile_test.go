package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestLoadProjectRunFile checks the repository's dapr.yaml under the CLI's
// rules: every path resolves and exists, every app runs the project's daprd
// on loopback without placement or scheduler.
func TestLoadProjectRunFile(t *testing.T) {
	rf, err := Load("../../dapr.yaml")
	require.NoError(t, err)
	api := rf.App("api")
	require.NotNil(t, api)
	assert.Equal(t, 8080, api.AppPort)
	assert.Equal(t, 3500, api.DaprHTTPPort)
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
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
		assert.Equal(t, []string{filepath.Join(root, "components", "local")}, a.ResourcesPaths, a.AppID)
		assert.Equal(t, filepath.Join(root, "components", "config.yaml"), a.ConfigFilePath, a.AppID)
		assert.Equal(t, filepath.Join(root, "tools", "dapr-runtime", ".dapr", "bin", "daprd"), a.Daprd(), a.AppID)
		assert.Equal(t, "127.0.0.1", a.APIListenAddresses, a.AppID)
		args := strings.Join((&Stack{}).daprdArgs(a), " ")
		assert.NotContains(t, args, "--placement-host-address", a.AppID)
		assert.NotContains(t, args, "--scheduler-host-address", a.AppID)
		// The command runs from appDirPath, as `sh -c 'exec "$@"'` does.
		if c := a.Command[0]; strings.Contains(c, "/") {
			assert.Equal(t, filepath.Join(root, "bin"), filepath.Join(a.AppDirPath, filepath.Dir(c)), "%s: %s from %s", a.AppID, c, a.AppDirPath)
		}
	}
}

// TestPathsResolveLikeTheCLI is the regression seen with the official CLI:
// an app's resourcesPaths are relative to its appDirPath, not to the run
// file. A run file written the other way must be refused, as the CLI does.
func TestPathsResolveLikeTheCLI(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"apps/x", "components/local", "apps/y/.dapr/resources", "rt/.dapr/bin", "apps/y/cfg"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "components", "config.yaml"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "apps", "y", "cfg", "c.yaml"), nil, 0o644))
	write := func(body string) string {
		p := filepath.Join(dir, "dapr.yaml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}

	// Relative to the run file: the CLI's "error in getting the file info".
	_, err := Load(write("version: 1\napps:\n  - appID: x\n    appDirPath: ./apps/x\n    command: [x]\n    resourcesPaths: [./components/local]\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "apps", "x", "components", "local"))

	rf, err := Load(write(`version: 1
common:
  resourcesPaths: [./components/local]
  configFilePath: ./components/config.yaml
  runtimePath: ./rt
  env: {A: common, B: common}
apps:
  - appID: x
    appDirPath: ./apps/x
    command: [x]
    resourcesPaths: [../../components/local]
    env: {B: app}
  - appDirPath: ./apps/y
    configFilePath: ./cfg/c.yaml
    logLevel: debug
`))
	require.NoError(t, err)
	x, y := rf.App("x"), rf.App("y")
	require.NotNil(t, x)
	require.NotNil(t, y, "appID defaults to appDirPath's base name")
	assert.Equal(t, []string{filepath.Join(dir, "components", "local")}, x.ResourcesPaths)
	assert.Equal(t, filepath.Join(dir, "components", "config.yaml"), x.ConfigFilePath, "common's config")
	assert.Equal(t, map[string]string{"A": "common", "B": "app"}, x.Env, "the app's env wins key by key")
	assert.Equal(t, []string{filepath.Join(dir, "apps", "y", ".dapr", "resources")}, y.ResourcesPaths,
		"<appDirPath>/.dapr/resources comes before common's resources")
	assert.Equal(t, filepath.Join(dir, "apps", "y", "cfg", "c.yaml"), y.ConfigFilePath, "relative to appDirPath")
	assert.Equal(t, filepath.Join(dir, "rt", ".dapr", "bin", "daprd"), y.Daprd(), "runtimePath from common")
	assert.Equal(t, LogFile, x.DaprdLogDestination)
	assert.Equal(t, LogFileAndConsole, x.AppLogDestination)
	assert.Equal(t, filepath.Join(dir, "apps", "x", ".dapr", "logs"), x.LogsDir())
}

func TestLoadErrors(t *testing.T) {
	tests := map[string]string{
		"no version":     "apps: []\n",
		"version":        "version: 2\napps: []\n",
		"unknown key":    "version: 1\napps:\n  - appID: a\n    appDirPath: .\n    colour: red\n",
		"no appDirPath":  "version: 1\napps:\n  - appID: a\n    command: [x]\n",
		"duplicate id":   "version: 1\napps:\n  - appID: a\n    appDirPath: .\n  - appID: a\n    appDirPath: .\n",
		"missing config": "version: 1\ncommon:\n  configFilePath: ./nope.yaml\napps: []\n",
		"log dest":       "version: 1\napps:\n  - appID: a\n    appDirPath: .\n    appLogDestination: syslog\n",
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

// TestEnvReachesTheAppOnly is the other regression seen with the official
// CLI: the run file's env goes to the app, never to daprd, which inherits
// only the launcher's (the CLI's) environment.
func TestEnvReachesTheAppOnly(t *testing.T) {
	t.Setenv("FROM_SHELL", "shell")
	s := &Stack{opts: Options{Env: map[string]string{"EXPORTED": "yes", "SHARED": "exported"}}, tokens: map[string]Tokens{"a": {Dapr: "d", App: "p"}}}
	a := App{AppID: "a", AppPort: 1, DaprHTTPPort: 2, DaprGRPCPort: 3, MetricsPort: 4,
		Shared: Shared{Env: map[string]string{"REDIS_ADDR": "run-file", "SHARED": "run-file"}}}
	app, daprd := envMap(s.appEnv(a)), envMap(s.daprdEnv(a))

	assert.Equal(t, "run-file", app["REDIS_ADDR"])
	assert.Equal(t, "run-file", app["SHARED"], "the run file's env wins over the inherited one")
	assert.Equal(t, "yes", app["EXPORTED"])
	assert.Equal(t, "shell", app["FROM_SHELL"])
	for k, v := range map[string]string{"APP_ID": "a", "APP_PORT": "1", "DAPR_HTTP_PORT": "2", "DAPR_GRPC_PORT": "3",
		"DAPR_METRICS_PORT": "4", "APP_PROTOCOL": "http", "DAPR_API_TOKEN": "d", "APP_API_TOKEN": "p"} {
		assert.Equal(t, v, app[k], k)
	}

	assert.NotContains(t, daprd, "REDIS_ADDR", "the run file's env must not reach daprd")
	assert.Equal(t, "exported", daprd["SHARED"])
	assert.Equal(t, "yes", daprd["EXPORTED"])
	assert.Equal(t, "shell", daprd["FROM_SHELL"])
	assert.Equal(t, "127.0.0.1", daprd["DAPR_HOST_IP"])
	assert.Equal(t, "d", daprd["DAPR_API_TOKEN"])
	assert.Equal(t, "p", daprd["APP_API_TOKEN"])
}

func envMap(kv []string) map[string]string {
	m := map[string]string{}
	for _, e := range kv {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// TestDaprdArgs checks the flags the CLI derives from an app, including its
// placement and scheduler defaults.
func TestDaprdArgs(t *testing.T) {
	none, host := "", "sched"
	a := App{AppID: "api", AppPort: 1, DaprHTTPPort: 2, DaprGRPCPort: 3, MetricsPort: 4, DaprInternalGRPCPort: 6,
		Shared: Shared{AppMaxConcurrency: 5, APIListenAddresses: "127.0.0.1", ResourcesPaths: []string{"/r1", "/r2"},
			ConfigFilePath: "/c.yaml", PlacementHostAddress: &none, SchedulerHostAddress: &host}}
	args := strings.Join((&Stack{}).daprdArgs(a), " ")
	for _, want := range []string{"--app-id api", "--app-port 1", "--dapr-http-port 2", "--dapr-grpc-port 3",
		"--metrics-port 4", "--dapr-internal-grpc-port 6", "--app-max-concurrency 5", "--app-protocol http",
		"--resources-path /r1 --resources-path /r2", "--config /c.yaml", "--dapr-listen-addresses 127.0.0.1",
		"--scheduler-host-address sched:50006"} {
		assert.Contains(t, args, want)
	}
	assert.NotContains(t, args, "--placement-host-address", `"" disables placement`)

	b := App{AppID: "b"}
	args = strings.Join((&Stack{}).daprdArgs(b), " ")
	assert.Contains(t, args, "--placement-host-address localhost:50005", "unset means the default")
	assert.Contains(t, args, "--scheduler-host-address localhost:50006", "unset means the default")
	assert.Contains(t, args, "--app-max-concurrency -1")
	assert.NotContains(t, args, "--dapr-listen-addresses")
}

// TestLocalComponentsNeedNoEnv guards the choice that makes the run file
// work under the CLI: components/local may not read the environment,
// because daprd does not get dapr.yaml's env there.
func TestLocalComponentsNeedNoEnv(t *testing.T) {
	files, err := filepath.Glob("../../components/local/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var c struct {
			Spec struct {
				Metadata []map[string]any `yaml:"metadata"`
			} `yaml:"spec"`
		}
		require.NoError(t, yaml.Unmarshal(b, &c), f)
		for _, m := range c.Spec.Metadata {
			for _, k := range []string{"envRef", "secretKeyRef"} {
				assert.NotContains(t, m, k, "%s: %v reads %s, which daprd does not get under `dapr run -f`", f, m["name"], k)
			}
		}
	}
	assert.True(t, slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, "pubsub.yaml") }))
}

// TestRuntimeDaprd runs the daprd that dapr.yaml's runtimePath names with a
// stand-in for the real one: it must add the loopback listen addresses the
// CLI cannot set and drop the scheduler address the CLI adds by itself.
func TestRuntimeDaprd(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "daprd")
	out := filepath.Join(dir, "args")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+out+"\n"), 0o755))
	shim := "../../tools/dapr-runtime/.dapr/bin/daprd"
	cmd := exec.Command(shim, "--app-id", "api", "--scheduler-host-address", "localhost:50006",
		"--scheduler-host-address=other:1", "--dapr-listen-addresses", "127.0.0.1")
	cmd.Env = append(os.Environ(), "DAPRD="+fake)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, []string{"--app-id", "api", "--dapr-listen-addresses", "127.0.0.1",
		"--dapr-internal-grpc-listen-address", "127.0.0.1", "--metrics-listen-address", "127.0.0.1"},
		strings.Fields(string(got)))
}
