package testenv

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/intellidox/intellidox/internal/natsjs"
)

// StartNATS starts a private nats-server (Debian's, from PATH) on a free
// loopback port, with JetStream in a temporary directory if jetstream, and
// returns its address.
func StartNATS(t testing.TB, jetstream bool) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("nats-server is not installed (scripts/infra.sh up installs Debian's nats-server): %v", err)
	}
	port := FreePort(t)
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	if jetstream {
		args = append(args, "-js", "-sd", t.TempDir())
	}
	Start(t, exec.Command(bin, args...), "nats-server")
	WaitPort(t, port, "nats-server")
	return "127.0.0.1:" + strconv.Itoa(port)
}

// StartStorageEvents starts a nats-server with the storage stream: what
// versitygw publishes storage events to, and the storage component reads.
func StartStorageEvents(t testing.TB) string {
	t.Helper()
	addr := StartNATS(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := natsjs.EnsureStream(ctx, addr, natsjs.StorageStream); err != nil {
		t.Fatal(err)
	}
	return addr
}
