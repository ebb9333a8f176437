// Package testenv starts real infrastructure for integration and end-to-end
// tests: a fresh PostgreSQL database per test, and private Redis and
// versitygw instances on free ports. Binaries come from scripts/infra.sh up;
// when something is missing the test fails and says how to fix it.
package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/objstore"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort waits until something listens on 127.0.0.1:port.
func WaitPort(t testing.TB, port int, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not start on port %d", what, port)
}

// AdminURL is the PostgreSQL server tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

var templateOnce sync.Map // template name → *sync.Once

// Database creates a fresh database for the test, cloned from a template on
// which migrate has run, and drops it afterwards. It returns its URL. With a
// nil migrate the database is empty.
func Database(t testing.TB, migrations fs.FS, migrate func(context.Context, *pgxpool.Pool) error) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("postgresql is not reachable at %s (run scripts/infra.sh up): %v", AdminURL(), err)
	}
	defer admin.Close(ctx)
	create := "CREATE DATABASE %s"
	if migrate != nil {
		tmpl := "idx_tmpl_" + fsHash(t, migrations)
		once, _ := templateOnce.LoadOrStore(tmpl, &sync.Once{})
		var tmplErr error
		once.(*sync.Once).Do(func() { tmplErr = ensureTemplate(ctx, admin, tmpl, migrate) })
		if tmplErr != nil {
			t.Fatalf("template database: %v", tmplErr)
		}
		create += " TEMPLATE " + tmpl
	}
	name := fmt.Sprintf("idx_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.Exec(ctx, fmt.Sprintf(create, name)); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), AdminURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	return withDB(AdminURL(), name)
}

// ensureTemplate creates the migrated template once per machine. An advisory
// lock keeps parallel test binaries from racing.
func ensureTemplate(ctx context.Context, admin *pgx.Conn, name string, migrate func(context.Context, *pgxpool.Pool) error) error {
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7467001)"); err != nil {
		return err
	}
	defer admin.Exec(ctx, "SELECT pg_advisory_unlock(7467001)") //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	build := name + "_build"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+build)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+build); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDB(AdminURL(), build))
	if err != nil {
		return err
	}
	err = migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return err
	}
	_, err = admin.Exec(ctx, "ALTER DATABASE "+build+" RENAME TO "+name)
	return err
}

func withDB(url, name string) string {
	i := strings.LastIndex(url, "/")
	q := ""
	if j := strings.Index(url[i:], "?"); j >= 0 {
		q = url[i+j:]
	}
	return url[:i+1] + name + q
}

func fsHash(t testing.TB, fsys fs.FS) string {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		h.Write([]byte(p))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatalf("hash migrations: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// Redis starts a private redis-server for the test and returns its address.
func Redis(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed (run scripts/infra.sh up)")
	}
	port := FreePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "",
		"--appendonly", "no", "--dir", dir)
	Start(t, cmd, "redis")
	WaitPort(t, port, "redis")
	return "127.0.0.1:" + strconv.Itoa(port)
}

// S3 is a private versitygw instance.
type S3 struct {
	Endpoint, Bucket, AccessKey, SecretKey string
}

// StartS3 starts versitygw on a free port with a fresh bucket.
func StartS3(t testing.TB, corsOrigins ...string) S3 {
	t.Helper()
	return startS3(t, nil, corsOrigins)
}

// StartS3Events is StartS3 with versitygw's event notifications of
// created objects published to the NATS server at natsAddr, subject
// storage-events, as scripts/infra.sh runs it.
func StartS3Events(t testing.TB, natsAddr string, corsOrigins ...string) S3 {
	t.Helper()
	return startS3(t, []string{"--event-nats-url", "nats://" + natsAddr, "--event-nats-topic", contract.TopicStorageEvents,
		"--event-filter", filepath.Join(Root(), "components", "local", "versitygw-events.json")}, corsOrigins)
}

func startS3(t testing.TB, events []string, corsOrigins []string) S3 {
	t.Helper()
	bin := filepath.Join(Root(), "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("versitygw is not installed at %s (run scripts/infra.sh up)", bin)
	}
	s := S3{Bucket: "intellidox", AccessKey: "test-access", SecretKey: "test-secret-key"}
	port := FreePort(t)
	// --iam-dir lets a test add users besides root (CreateS3User).
	args := append([]string{"--port", "127.0.0.1:" + strconv.Itoa(port), "--keep-alive", "--quiet",
		"--iam-dir", t.TempDir()}, events...)
	cmd := exec.Command(bin, append(args, "posix", t.TempDir())...)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	Start(t, cmd, "versitygw")
	WaitPort(t, port, "versitygw")
	s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	st, err := objstore.New(context.Background(), s.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnsureBucket(context.Background(), corsOrigins); err != nil {
		t.Fatal(err)
	}
	return s
}

// CreateS3User adds a user (role "user": no rights until a bucket policy
// grants some) to a versitygw started by StartS3, with versitygw's own admin
// CLI, and returns its credentials.
func (s S3) CreateS3User(t testing.TB, name string) S3 {
	t.Helper()
	u := s
	u.AccessKey, u.SecretKey = name, name+"-secret-key"
	out, err := exec.Command(filepath.Join(Root(), "bin", "versitygw"), "admin", "--access", s.AccessKey, "--secret", s.SecretKey,
		"--endpoint-url", s.Endpoint, "create-user", "--access", u.AccessKey, "--secret", u.SecretKey, "--role", "user").CombinedOutput()
	if err != nil {
		t.Fatalf("versitygw admin create-user: %v: %s", err, out)
	}
	return u
}

// Config returns the objstore configuration for s.
func (s S3) Config() objstore.Config {
	return objstore.Config{Bucket: s.Bucket, Endpoint: s.Endpoint, PathStyle: true, Region: "us-east-1",
		AccessKey: s.AccessKey, SecretKey: s.SecretKey}
}

// ClamdAddr returns the address of a running clamd: CLAMD_ADDR, or the one
// scripts/infra.sh starts on 127.0.0.1:3310.
func ClamdAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("CLAMD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:3310"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("clamd is not reachable at %s (run scripts/infra.sh up): %v", addr, err)
	}
	c.Close()
	return addr
}

// RequiredInCI starts the reason of a skip that CI does not accept;
// cmd/testreport looks for it.
const RequiredInCI = "REQUIRED IN CI:"

// SkipRequired skips t, saying why, where a suite cannot run on this
// machine; with CI=true it fails t instead, so that a green CI means the
// suite ran (the AWS profile, the browser test).
func SkipRequired(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s %s (CI=true: this test must run, not skip)", RequiredInCI, reason)
	}
	t.Skip(RequiredInCI + " " + reason)
}

// Start runs cmd for the rest of the test, in its own process group, and
// kills it at cleanup.
func Start(t testing.TB, cmd *exec.Cmd, what string) {
	t.Helper()
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	t.Cleanup(func() {
		killGroup(cmd)
		_ = cmd.Wait()
	})
}
