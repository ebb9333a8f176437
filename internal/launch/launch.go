package launch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"sync"
	"syscall"
	"time"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// Options tune a launch.
type Options struct {
	Daprd        string            // path to daprd
	Env          map[string]string // overrides the run file's env for every app and sidecar
	Log          io.Writer         // prefixed output of every process; os.Stdout if nil
	DaprLogLevel string            // daprd --log-level; "warn" if empty
	// ResourcesPaths, when set, replaces every app's resources paths: the
	// same apps run against another set of components (e.g. components/aws).
	ResourcesPaths []string
	// TokenAuth turns on Dapr API token auth: each app and its sidecar get
	// a fresh random DAPR_API_TOKEN (app → sidecar) and APP_API_TOKEN
	// (sidecar → app).
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
	if opts.DaprLogLevel == "" {
		opts.DaprLogLevel = "warn"
	}
	s := &Stack{rf: rf, opts: opts, proc: map[string]*process{}, tokens: map[string]Tokens{}}
	if opts.TokenAuth {
		for _, a := range rf.Apps {
			s.tokens[a.AppID] = Tokens{Dapr: randomToken(), App: randomToken()}
		}
	}
	for _, a := range rf.Apps {
		for _, p := range []int{a.AppPort, a.DaprHTTPPort, a.DaprGRPCPort, a.MetricsPort} {
			if p != 0 && !portFree(p) {
				return nil, fmt.Errorf("%s: port %d is in use: is the stack already running?", a.AppID, p)
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
	if err := s.startProcess(id, false); err != nil {
		return err
	}
	return s.startProcess(id, true)
}

// StartProcess starts just the app (sidecar false) or just its sidecar.
func (s *Stack) startProcess(id string, sidecar bool) error {
	a := s.rf.App(id)
	if a == nil {
		return fmt.Errorf("no app %q", id)
	}
	env := s.env(*a)
	var cmd *exec.Cmd
	name := id
	if sidecar {
		name = id + ".daprd"
		cmd = exec.Command(s.opts.Daprd, s.daprdArgs(*a)...)
		cmd.Dir = s.rf.dir
	} else {
		cmd = exec.Command(a.Command[0], a.Command[1:]...)
		cmd.Dir = s.rf.abs(a.AppDirPath)
		if filepath.Base(a.Command[0]) != a.Command[0] && !filepath.IsAbs(a.Command[0]) {
			cmd.Path = filepath.Join(cmd.Dir, a.Command[0])
		}
	}
	cmd.Env = env
	// Own process group, and SIGKILL if the launcher dies: no orphans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{pid: cmd.Process.Pid, done: make(chan struct{})}
	s.mu.Lock()
	s.proc[name] = p
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		prefix(s.opts.Log, name, out)
		p.err = cmd.Wait()
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

func (s *Stack) env(a App) []string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := cut(kv); ok {
			m[k] = v
		}
	}
	maps.Copy(m, s.rf.Common.Env)
	maps.Copy(m, a.Env)
	maps.Copy(m, s.opts.Env)
	if t, ok := s.tokens[a.AppID]; ok {
		m["DAPR_API_TOKEN"], m["APP_API_TOKEN"] = t.Dapr, t.App
	}
	m["APP_ID"] = a.AppID
	m["APP_PORT"] = strconv.Itoa(a.AppPort)
	m["DAPR_HTTP_PORT"] = strconv.Itoa(a.DaprHTTPPort)
	m["DAPR_GRPC_PORT"] = strconv.Itoa(a.DaprGRPCPort)
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

func cut(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return "", "", false
}

func (s *Stack) daprdArgs(a App) []string {
	args := []string{
		"--app-id", a.AppID,
		"--app-port", strconv.Itoa(a.AppPort),
		"--app-protocol", "http",
		"--dapr-http-port", strconv.Itoa(a.DaprHTTPPort),
		"--dapr-grpc-port", strconv.Itoa(a.DaprGRPCPort),
		"--dapr-listen-addresses", "127.0.0.1",
		"--dapr-internal-grpc-listen-address", "127.0.0.1",
		"--metrics-listen-address", "127.0.0.1",
		"--placement-host-address", "",
		"--scheduler-host-address", "",
		"--log-level", s.opts.DaprLogLevel,
	}
	if a.LogLevel != "" {
		args[len(args)-1] = a.LogLevel
	}
	if a.MetricsPort != 0 {
		args = append(args, "--metrics-port", strconv.Itoa(a.MetricsPort))
	} else {
		args = append(args, "--enable-metrics=false")
	}
	if a.DaprInternalGRPCPort != 0 {
		args = append(args, "--dapr-internal-grpc-port", strconv.Itoa(a.DaprInternalGRPCPort))
	}
	if a.AppMaxConcurrency > 0 {
		args = append(args, "--app-max-concurrency", strconv.Itoa(a.AppMaxConcurrency))
	}
	paths := s.rf.resources(a)
	if len(s.opts.ResourcesPaths) > 0 {
		paths = s.opts.ResourcesPaths
	}
	for _, p := range paths {
		args = append(args, "--resources-path", p)
	}
	if c := s.rf.config(a); c != "" {
		args = append(args, "--config", c)
	}
	return args
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
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		for _, name := range []string{id, id + ".daprd"} {
			if !s.Running(name) {
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

var logMu sync.Mutex

func prefix(w io.Writer, name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	tag := fmt.Sprintf("%-22s | ", name)
	for sc.Scan() {
		logMu.Lock()
		_, _ = io.WriteString(w, tag+sc.Text()+"\n")
		logMu.Unlock()
	}
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
