package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Postgres is a private PostgreSQL server a test may stop and start.
type Postgres struct {
	URL  string // of database "postgres"
	dir  string
	port int
	bin  string
}

func pgBin(t testing.TB) string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		t.Fatal("PostgreSQL server binaries are not installed (run scripts/infra.sh up)")
	}
	return filepath.Dir(matches[len(matches)-1])
}

// asPostgres runs a server command as user postgres when the test runs as
// root, since PostgreSQL refuses to run as root.
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

// StartPostgres initializes and starts a throwaway server on a free port.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "intellidox-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	pg := &Postgres{dir: dir, port: FreePort(t), bin: pgBin(t)}
	pg.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	if out, err := asPostgres(filepath.Join(pg.bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"-A", "trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.Start(t)
	t.Cleanup(func() { _ = pg.ctl("stop", "-m", "immediate").Run() })
	return pg
}

func (pg *Postgres) ctl(args ...string) *exec.Cmd {
	base := []string{"-D", filepath.Join(pg.dir, "data"), "-w"}
	return asPostgres(filepath.Join(pg.bin, "pg_ctl"), append(base, args...)...)
}

// Start starts the server (again).
func (pg *Postgres) Start(t testing.TB) {
	t.Helper()
	opts := "-p " + strconv.Itoa(pg.port) + " -k " + pg.dir + " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
	if out, err := pg.ctl("-o", opts, "-l", filepath.Join(pg.dir, "log"), "start").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

// Stop stops the server at once, dropping connections.
func (pg *Postgres) Stop(t testing.TB) {
	t.Helper()
	if out, err := pg.ctl("stop", "-m", "immediate").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Database returns the URL of a new empty database on this server.
func (pg *Postgres) Database(t testing.TB, name string) string {
	t.Helper()
	if out, err := exec.Command("psql", pg.URL, "-c", "CREATE DATABASE "+name).CombinedOutput(); err != nil {
		t.Fatalf("create database: %v\n%s", err, out)
	}
	return withDB(pg.URL, name)
}
