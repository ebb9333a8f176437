package launch

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options tune a launch.
type Options struct {
	// Env is added to the launcher's own environment, which every app and
	// every daprd inherits: the variables a user would export before
	// `dapr run -f`. The run file's env wins over it, for the apps only.
	Env map[string]string
	Log io.Writer // the console: prefixed output of every process; os.Stdout if nil
	// TokenAuth turns on Dapr API token auth: each app and its sidecar get
	// a fresh random DAPR_API_TOKEN (app → sidecar) and APP_API_TOKEN
	// (sidecar → app). The CLI has no such option; `make run` exports one
	// pair for every app instead.
	TokenAuth bool
}

// Tokens are one app's Dapr API tokens.
type Tokens struct {
	Dapr string // DAPR_API_TOKEN: callers of the sidecar's API send it
	App  string // APP_API_TOKEN: the sidecar sends it to the app
}

// Stack is a running set of apps and sidecars.
type Stack struct {
	rf     *RunFile
	opts   Options
	mu     sync.Mutex
	proc   map[string]*process // key: appID or appID+".daprd"
	tokens map[string]Tokens
	wg     sync.WaitGroup
}

// Start launches every app with its sidecar and waits until each sidecar
// reports healthy (its app is up and its components are loaded).
func Start(ctx context.Context, rf *RunFile, opts Options) (*Stack, error) {
	if opts.Log == nil {
		opts.Log = os.Stdout
	}
	s := &Stack{rf: rf, opts: opts, proc: map[string]*process{}, tokens: map[string]Tokens{}}
	if opts.TokenAuth {
		for _, a := range rf.Apps {
			s.tokens[a.AppID] = Tokens{Dapr: randomToken(), App: randomToken()}
		}
	}
	for i := range rf.Apps {
		a := &rf.Apps[i]
		if _, err := os.Stat(a.Daprd()); err != nil {
			return nil, fmt.Errorf("%s: no daprd at %s (the run file's runtimePath, $DAPR_RUNTIME_PATH or ~/.dapr): run 'make daprd'", a.AppID, a.Daprd())
		}
		for _, p := range []int{a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort, a.DaprInternalGRPCPort} {
			if p != 0 && !portFree(p) {
				return nil, fmt.Errorf("%s: port %d is in use: is the stack already running?", a.AppID, p)
			}
		}
		// As the CLI: sidecar ports left unset get free ones.
		for _, p := range []*int{&a.DaprHTTPPort, &a.DaprGRPCPort, &a.MetricsPort, &a.DaprInternalGRPCPort} {
			if *p <= 0 {
				port, err := freePort()
				if err != nil {
					return nil, err
				}
				*p = port
			}
		}
	}
	for _, a := range rf.Apps {
		if err := s.StartApp(a.AppID); err != nil {
			s.Stop()
			return nil, err
		}
	}
	for _, a := range rf.Apps {
		if err := s.WaitHealthy(ctx, a.AppID, 2*time.Minute); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// StartApp starts one app and its sidecar (again, after a Kill).
func (s *Stack) StartApp(id string) error {
	if err := s.startProcess(id, true); err != nil {
		return err
	}
	return s.startProcess(id, false)
}

// startProcess starts just the app (sidecar false) or just its sidecar,
// both in the app's directory, as the CLI does.
func (s *Stack) startProcess(id string, sidecar bool) error {
	a := s.rf.App(id)
	if a == nil {
		return fmt.Errorf("no app %q", id)
	}
	var cmd *exec.Cmd
	name, dest, kind := id, a.AppLogDestination, "app"
	if sidecar {
		name, dest, kind = id+".daprd", a.DaprdLogDestination, "daprd"
		cmd = exec.Command(a.Daprd(), s.daprdArgs(*a)...)
		cmd.Env = s.daprdEnv(*a)
	} else {
		if len(a.Command) == 0 {
			return nil // a sidecar without an app, as the CLI allows
		}
		// The CLI runs `sh -c 'exec "$@"' sh command…`: the command is
		// looked up on PATH, or relative to appDirPath if it has a slash.
		cmd = exec.Command("sh", append([]string{"-c", `exec "$@"`, "sh"}, a.Command...)...)
		cmd.Env = s.appEnv(*a)
	}
	cmd.Dir = a.AppDirPath
	// Own process group, and SIGKILL if the launcher dies: no orphans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	w, closeLog, err := s.logWriter(*a, name, kind, dest)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		closeLog()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{pid: cmd.Process.Pid, done: make(chan struct{})}
	s.mu.Lock()
	s.proc[name] = p
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		copyLines(w, out)
		p.err = cmd.Wait()
		closeLog()
		close(p.done)
	}()
	return nil
}

type process struct {
	pid  int
	done chan struct{}
	err  error // how it exited, once done is closed
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// baseEnv is the launcher's own environment plus Options.Env and the
// app's tokens: what both processes of an app inherit.
func (s *Stack) baseEnv(a App) map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	maps.Copy(m, s.opts.Env)
	if t, ok := s.tokens[a.AppID]; ok {
		m["DAPR_API_TOKEN"], m["APP_API_TOKEN"] = t.Dapr, t.App
	}
	return m
}

// appEnv is the app's environment: the inherited one, the CLI's variables
// describing the app and its sidecar, then the run file's env.
func (s *Stack) appEnv(a App) []string {
	m := s.baseEnv(a)
	m["APP_ID"] = a.AppID
	if a.AppPort > 0 {
		m["APP_PORT"] = strconv.Itoa(a.AppPort)
	}
	m["DAPR_HTTP_PORT"] = strconv.Itoa(a.DaprHTTPPort)
	m["DAPR_GRPC_PORT"] = strconv.Itoa(a.DaprGRPCPort)
	m["DAPR_METRICS_PORT"] = strconv.Itoa(a.MetricsPort)
	m["APP_PROTOCOL"] = cmp.Or(a.AppProtocol, "http")
	maps.Copy(m, a.Env)
	return envList(m)
}

// daprdEnv is daprd's environment: the inherited one only. The run file's
// env never reaches daprd, as with the CLI, so components cannot rely on it.
func (s *Stack) daprdEnv(a App) []string {
	m := s.baseEnv(a)
	if _, ok := m["DAPR_HOST_IP"]; !ok {
		m["DAPR_HOST_IP"] = "127.0.0.1"
	}
	return envList(m)
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// daprdArgs are the flags the CLI derives from the run file for a's daprd.
func (s *Stack) daprdArgs(a App) []string {
	args := []string{
		"--app-id", a.AppID,
		"--app-port", strconv.Itoa(max(a.AppPort, 0)),
		"--app-protocol", cmp.Or(a.AppProtocol, "http"),
		"--dapr-http-port", strconv.Itoa(a.DaprHTTPPort),
		"--dapr-grpc-port", strconv.Itoa(a.DaprGRPCPort),
		"--metrics-port", strconv.Itoa(a.MetricsPort),
		"--dapr-internal-grpc-port", strconv.Itoa(a.DaprInternalGRPCPort),
		"--app-max-concurrency", strconv.Itoa(cmp.Or(max(a.AppMaxConcurrency, 0), -1)),
		"--max-body-size", "4Mi",
		"--read-buffer-size", "4Ki",
	}
	if a.APIListenAddresses != "" {
		args = append(args, "--dapr-listen-addresses", a.APIListenAddresses)
	}
	if a.LogLevel != "" {
		args = append(args, "--log-level", a.LogLevel)
	}
	if addr := hostAddress(a.PlacementHostAddress, "localhost", "50005"); addr != "" {
		args = append(args, "--placement-host-address", addr)
	}
	if addr := hostAddress(a.SchedulerHostAddress, "localhost", "50006"); addr != "" {
		args = append(args, "--scheduler-host-address", addr)
	}
	for _, p := range a.ResourcesPaths {
		args = append(args, "--resources-path", p)
	}
	if a.ConfigFilePath != "" {
		args = append(args, "--config", a.ConfigFilePath)
	}
	return args
}

// hostAddress applies the CLI's rule for placement and scheduler
// addresses: unset means the default host, empty disables, a host without
// a port gets the default port.
func hostAddress(v *string, host, port string) string {
	if v == nil {
		return host + ":" + port
	}
	addr := strings.TrimSpace(*v)
	if addr != "" && !strings.Contains(addr, ":") {
		addr += ":" + port
	}
	return addr
}

// WaitHealthy waits until the app's sidecar answers its health endpoint.
func (s *Stack) WaitHealthy(ctx context.Context, id string, timeout time.Duration) error {
	a := s.rf.App(id)
	url := fmt.Sprintf("http://127.0.0.1:%d/v1.0/healthz", a.DaprHTTPPort)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent && s.isOurs(ctx, *a) {
				return nil
			}
		}
		for _, name := range []string{id, id + ".daprd"} {
			if s.started(name) && !s.Running(name) {
				return fmt.Errorf("%s exited before becoming healthy (%v); see its log lines", name, s.exitErr(name))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: sidecar not healthy after %s", id, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isOurs reports whether the sidecar answering on a's HTTP port is a's:
// its metadata names the app (and, with TokenAuth, it takes a's token).
// A free port picked for a sidecar can be taken by another process before
// the sidecar binds it; another stack's sidecar there would answer the
// health check, and ours would fail later, unseen.
func (s *Stack) isOurs(ctx context.Context, a App) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v1.0/metadata", a.DaprHTTPPort), nil)
	if t := s.tokens[a.AppID].Dapr; t != "" {
		req.Header.Set("dapr-api-token", t)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var m struct {
		ID string `json:"id"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m) == nil && m.ID == a.AppID
}

// Tokens returns the Dapr API tokens of app id (empty without TokenAuth).
func (s *Stack) Tokens(id string) Tokens { return s.tokens[id] }

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Pids returns the process ids of every running process, by name.
func (s *Stack) Pids() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for name, p := range s.proc {
		if p.running() {
			out[name] = p.pid
		}
	}
	return out
}

func (s *Stack) exitErr(name string) error {
	s.mu.Lock()
	p := s.proc[name]
	s.mu.Unlock()
	if p == nil {
		return errors.New("never started")
	}
	<-p.done
	return p.err
}

func (s *Stack) started(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc[name] != nil
}

// Running reports whether the named process (appID or appID+".daprd") runs.
func (s *Stack) Running(name string) bool {
	s.mu.Lock()
	p := s.proc[name]
	s.mu.Unlock()
	return p != nil && p.running()
}

// Kill sends SIGKILL to an app and, if sidecar is true, its daprd too.
func (s *Stack) Kill(id string, sidecar bool) {
	names := []string{id}
	if sidecar {
		names = append(names, id+".daprd")
	}
	for _, n := range names {
		s.mu.Lock()
		p := s.proc[n]
		s.mu.Unlock()
		if p != nil {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// Stop terminates every process: SIGTERM, then SIGKILL after 10 seconds.
func (s *Stack) Stop() {
	s.mu.Lock()
	procs := slices.Collect(maps.Values(s.proc))
	s.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		for _, p := range procs {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		}
		<-done
	}
}

// Wait blocks until every process has exited.
func (s *Stack) Wait() { s.wg.Wait() }

// RunFile returns the run file the stack runs.
func (s *Stack) RunFile() *RunFile { return s.rf }

// logWriter is where a process's output goes, by its destination: the
// file <appDirPath>/.dapr/logs/<appID>_<kind>_<time>.log, the console
// (Options.Log, each line tagged with name), or both.
func (s *Stack) logWriter(a App, name, kind string, dest LogDest) (lineWriter, func(), error) {
	console := consoleLines{w: s.opts.Log, tag: fmt.Sprintf("%-22s | ", name)}
	if dest == LogConsole {
		return console, func() {}, nil
	}
	if err := os.MkdirAll(a.LogsDir(), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.Create(filepath.Join(a.LogsDir(), a.AppID+"_"+kind+"_"+time.Now().Format("20060102150405")+".log"))
	if err != nil {
		return nil, nil, err
	}
	closeLog := func() { f.Close() }
	if dest == LogFile {
		return fileLines{f}, closeLog, nil
	}
	return bothLines{fileLines{f}, console}, closeLog, nil
}

type lineWriter interface{ line(string) }

var logMu sync.Mutex

type consoleLines struct {
	w   io.Writer
	tag string
}

func (c consoleLines) line(l string) {
	logMu.Lock()
	_, _ = io.WriteString(c.w, c.tag+l+"\n")
	logMu.Unlock()
}

type fileLines struct{ w io.Writer }

func (f fileLines) line(l string) { _, _ = io.WriteString(f.w, l+"\n") }

type bothLines [2]lineWriter

func (b bothLines) line(l string) { b[0].line(l); b[1].line(l) }

func copyLines(w lineWriter, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		w.line(sc.Text())
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ErrNoDaprd means no daprd binary was found.
var ErrNoDaprd = errors.New("no daprd: run scripts/daprd.sh (make daprd) or set DAPRD")

// FindDaprd looks for daprd where scripts/daprd.sh puts or finds it.
func FindDaprd(root string) (string, error) {
	home, _ := os.UserHomeDir()
	for _, c := range []string{os.Getenv("DAPRD"), filepath.Join(root, "bin", "daprd"), filepath.Join(home, ".dapr", "bin", "daprd")} {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return filepath.Abs(c)
		}
	}
	if p, err := exec.LookPath("daprd"); err == nil {
		return p, nil
	}
	return "", ErrNoDaprd
}
