package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/launch"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestDaprCLIRunFile is `make run` with the official Dapr CLI: `dapr run -f .`
// on the repository's own dapr.yaml and components/local, on their fixed
// ports, against the infrastructure `make infra` starts. EICAR and a clean
// file reach their verdicts, nothing is dead-lettered, every app and sidecar
// listens on loopback only, and Ctrl-C leaves no process behind.
//
// It runs where a `dapr` binary is on PATH or DAPR_CLI names one
// (docs/dapr-cli.md builds it from source), and skips elsewhere: the Dapr
// CLI is not served by any registry this project's machines reach. The
// launcher follows the same rules (internal/launch's tests run everywhere).
//
// On the k8s profile the same CLI looks at the cluster instead (`-k`): the
// control plane healthy, mTLS on, every app of the deployment known to
// Dapr, and the components the operator serves.
func TestDaprCLIRunFile(t *testing.T) {
	if p := testenv.Profile(); p == "aws" {
		t.Skipf("runs dapr.yaml as it is, with components/local: once, in the local profile (E2E_PROFILE=%s)", p)
	}
	cli := os.Getenv("DAPR_CLI")
	if cli == "" {
		var err error
		if cli, err = exec.LookPath("dapr"); err != nil {
			t.Skip("no Dapr CLI (neither DAPR_CLI nor dapr on PATH); see docs/dapr-cli.md")
		}
	}
	if testenv.Profile() == "k8s" {
		daprCLIOnCluster(t, cli)
		return
	}
	root := testenv.Root()
	rf, err := launch.Load(filepath.Join(root, "dapr.yaml"))
	require.NoError(t, err)
	for _, a := range rf.Apps {
		for _, p := range []int{a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort} {
			if p > 0 && portInUse(p) {
				t.Fatalf("port %d of %s is in use: stop the running stack (make run) first", p, a.AppID)
			}
		}
	}
	_, err = launch.FindDaprd(root)
	require.NoError(t, err, "make daprd")
	build := exec.Command("go", "build", "-o", "bin/", "./apps/api", "./apps/extractor", "./apps/scanner")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	// As `make run` does: one fresh token pair for the run, exported to
	// the CLI, whose sidecars and apps inherit it.
	logPath := filepath.Join(t.TempDir(), "dapr-run.log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	defer logf.Close()
	run := exec.Command(cli, "run", "-f", ".")
	run.Dir = root
	run.Env = append(os.Environ(), "DAPR_API_TOKEN="+token(), "APP_API_TOKEN="+token())
	run.Stdout, run.Stderr = logf, logf
	run.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	require.NoError(t, run.Start())
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	var stopped bool
	t.Cleanup(func() {
		if !stopped {
			for _, pid := range descendants(run.Process.Pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			_ = run.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("dapr run -f . output:\n%s", tailLines(string(b), 80))
		}
	})

	api := rf.App("api")
	base := fmt.Sprintf("http://127.0.0.1:%d", api.AppPort)
	ready := func() bool {
		select {
		case err := <-exited:
			exited <- err
			return true // reported below
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	require.Eventually(t, ready, 3*time.Minute, 100*time.Millisecond, "the api never became ready under `dapr run -f .`")
	select {
	case err := <-exited:
		t.Fatalf("dapr run -f . exited before the stack was ready: %v", err)
	default:
	}
	t.Logf("ready %.1f s after `dapr run -f .`", time.Since(started).Seconds())

	c := client.New(base)
	c.APIKey = api.Env["BOOTSTRAP_API_KEY"]
	require.NotEmpty(t, c.APIKey, "dapr.yaml gives the api a local development key")
	dlBefore := deadLetterIDs(t, base, c.APIKey)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nonce := token() // new content: make run's database may know older uploads
	eicar, err := c.UploadBytes(ctx, "eicar.com", []byte(EICAR+"\n"+nonce))
	require.NoError(t, err)
	clean, err := c.UploadBytes(ctx, "notes.txt", []byte("an ordinary file "+nonce))
	require.NoError(t, err)
	require.NotNil(t, eicar.Upload, "new content is uploaded")
	engines := strings.Split(rf.App("api").Env["ENGINES"], ",")
	for id, want := range map[string]contract.Verdict{eicar.ID: contract.VerdictMalicious, clean.ID: contract.VerdictClean} {
		f, err := c.Wait(ctx, id)
		require.NoError(t, err, "file %s under `dapr run -f .`", id)
		assert.Equal(t, want, f.Verdict, id)
		scans, err := c.Scans(ctx, id)
		require.NoError(t, err)
		assert.True(t, scans.Complete)
		for _, e := range engines {
			assert.True(t, slices.ContainsFunc(scans.Engines, func(r contract.Result) bool {
				return r.Engine == e && r.Result != contract.Error
			}), "%s: engine %s reported a result", id, e)
		}
	}
	for _, id := range deadLetterIDs(t, base, c.APIKey) {
		assert.Contains(t, dlBefore, id, "a message was dead-lettered during the run")
	}

	// The CLI starts the apps one after another: wait for all of them,
	// then every socket of every process it started is on loopback.
	var pids []int
	daprds := func() int {
		pids = descendants(run.Process.Pid)
		n := 0
		for _, pid := range pids {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); filepath.Base(exe) == "daprd" {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return daprds() == len(rf.Apps) }, 2*time.Minute, 100*time.Millisecond,
		"one daprd per app (%d apps)", len(rf.Apps))
	for _, a := range rf.Apps {
		require.Eventually(t, func() bool { return !portFree(a.AppPort) }, time.Minute, 100*time.Millisecond, "%s listens", a.AppID)
	}
	pids = descendants(run.Process.Pid)
	ss, err := exec.Command("ss", "-H", "-lntup").CombinedOutput()
	require.NoError(t, err, "%s", ss)
	pidRe := regexp.MustCompile(`pid=(\d+)`)
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(ss)), "\n") {
		f := strings.Fields(line)
		for _, m := range pidRe.FindAllStringSubmatch(line, -1) {
			pid, _ := strconv.Atoi(m[1])
			if len(f) < 5 || !slices.Contains(pids, pid) {
				continue
			}
			seen++
			assert.True(t, strings.HasPrefix(f[4], "127.0.0.1:") || strings.HasPrefix(f[4], "[::1]:"),
				"pid %d listens on %s (%s)", pid, f[4], f[0])
		}
	}
	assert.Greater(t, seen, 2*len(rf.Apps), "the sidecars and apps listen somewhere")

	// The CLI writes daprd's log under each appDirPath, as the launcher does.
	logs, _ := filepath.Glob(filepath.Join(api.LogsDir(), "api_daprd_*.log"))
	assert.NotEmpty(t, logs, "daprd's log in %s", api.LogsDir())

	// Ctrl-C stops everything.
	require.NoError(t, syscall.Kill(run.Process.Pid, syscall.SIGINT))
	select {
	case <-exited:
	case <-time.After(time.Minute):
		t.Fatal("dapr run did not stop within a minute of SIGINT")
	}
	stopped = true
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil && !zombie(pid) {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "processes of the run survived Ctrl-C")
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func portFree(p int) bool { return !portInUse(p) }

func portInUse(p int) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", p))
	if err == nil {
		resp.Body.Close()
		return true
	}
	return !strings.Contains(err.Error(), "refused")
}

// descendants lists every process below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func deadLetterIDs(t *testing.T, base, key string) []float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/admin/deadletters?all=true", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var body struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	var ids []float64
	for _, it := range body.Items {
		if id, ok := it["id"].(float64); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// daprCLIOnCluster runs the official Dapr CLI's Kubernetes commands
// against the k8s profile's cluster.
func daprCLIOnCluster(t *testing.T, cli string) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	k := testenv.K8s(t)
	dapr := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cli, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+k.Kubeconfig)
		var stderr strings.Builder // warnings, apart from the output
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "dapr %s: %s%s", strings.Join(args, " "), out, stderr.String())
		return string(out)
	}

	status := dapr("status", "-k")
	t.Logf("dapr status -k:\n%s", status)
	for _, svc := range []string{"dapr-operator", "dapr-sentry", "dapr-sidecar-injector", "dapr-placement-server", "dapr-scheduler-server"} {
		row := regexp.MustCompile(`(?m)^\s*` + svc + `\s+dapr-system\s+(\S+)\s+(\S+)\s+\d+\s+(\S+)`).FindStringSubmatch(status)
		if assert.NotNil(t, row, "dapr status -k has no %s", svc) {
			assert.Equal(t, "True", row[1], "%s healthy", svc)
			assert.Equal(t, "Running", row[2], "%s status", svc)
			assert.Equal(t, "1.18.2", row[3], "%s version", svc)
		}
	}
	assert.Contains(t, dapr("mtls", "-k"), "Mutual TLS is enabled")

	var listed []struct {
		AppID   string `json:"appId"`
		AppPort string `json:"appPort"`
	}
	require.NoError(t, json.Unmarshal([]byte(dapr("list", "-k", "--namespace", k.Namespace, "-o", "json")), &listed))
	var got, want []string
	for _, a := range listed {
		got = append(got, a.AppID)
	}
	for _, a := range stack.Apps(t) {
		want = append(want, a.ID)
	}
	slices.Sort(got)
	got = slices.Compact(got) // one row per pod
	assert.Equal(t, want, got, "dapr list -k: the apps with a sidecar")

	components := dapr("components", "-k", "--namespace", k.Namespace)
	t.Logf("dapr components -k:\n%s", components)
	for _, c := range []string{"events", "live", "scanresults", "blobstore", "secrets", "reconcile"} {
		assert.Regexp(t, `(?m)^\s*`+k.Namespace+`\s+`+c+`\s`, components, "component %s", c)
	}
}
