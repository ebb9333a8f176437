package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a private server process that a test may crash and start again
// on the same address, for fault injection.
type Server struct {
	Addr string // 127.0.0.1:port

	what   string
	port   int
	newCmd func() *exec.Cmd

	mu  sync.Mutex
	cmd *exec.Cmd
}

func startServer(t testing.TB, what string, port int, newCmd func() *exec.Cmd) *Server {
	t.Helper()
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), what: what, port: port, newCmd: newCmd}
	s.Start(t)
	t.Cleanup(s.kill)
	return s
}

// Start starts the server (again, after Kill) and waits until it listens.
// It does nothing if the server runs.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return
	}
	cmd := s.newCmd()
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		t.Fatalf("start %s: %v", s.what, err)
	}
	s.cmd = cmd
	s.mu.Unlock()
	WaitPort(t, s.port, s.what)
}

// Kill stops the server at once with SIGKILL, as a crash would, and waits
// until it has exited.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.kill()
}

func (s *Server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	killGroup(s.cmd)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server and starts it again on the same port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill(t)
	s.Start(t)
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// RedisWithAOF starts a private redis-server with persistence on: an
// append-only file fsynced on every write (--appendfsync always) in a
// directory of the test's own, so that a Kill and Start lose nothing Redis
// acknowledged. Pass its Addr as StackOptions.Redis.
func RedisWithAOF(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (run scripts/infra.sh up)")
	}
	port := FreePort(t)
	dir := t.TempDir()
	return startServer(t, "redis", port, func() *exec.Cmd {
		return exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "",
			"--appendonly", "yes", "--appendfsync", "always", "--dir", dir,
			"--logfile", filepath.Join(dir, "redis.log"))
	})
}

// StartClamd starts a private clamd on a free port with the project's
// signature set (clamav/db), configured as scripts/infra.sh configures the
// shared one, but in the foreground so that the test owns the process.
// Pass its Addr as CLAMD_ADDR.
func StartClamd(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		bin = "/usr/sbin/clamd"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("clamd is not installed (run scripts/infra.sh up)")
	}
	port := FreePort(t)
	dir := t.TempDir()
	gen := exec.Command(filepath.Join(Root(), "scripts", "infra.sh"), "clamd-conf", strconv.Itoa(port), dir)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("scripts/infra.sh clamd-conf: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "clamd.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "Foreground ") && !strings.HasPrefix(l, "PidFile ") {
			lines = append(lines, l)
		}
	}
	lines = append(lines, "Foreground yes")
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServer(t, "clamd", port, func() *exec.Cmd { return exec.Command(bin, "-c", conf) })
}
