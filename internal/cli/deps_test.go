package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// The CLI is a client of the REST API: it links none of the server's
// infrastructure (the AWS SDK, PostgreSQL, Dapr, gRPC) nor its domain
// package (files): the wire types are internal/rest. So it stays small
// and its vulnerability surface is its own.
func TestCLILinksNoServerInfrastructure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/intellidox/intellidox/cmd/intellidox").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		for _, prefix := range []string{"github.com/aws/", "github.com/jackc/", "github.com/dapr/", "google.golang.org/grpc",
			"github.com/intellidox/intellidox/internal/objstore", "github.com/intellidox/intellidox/internal/pgstore",
			"github.com/intellidox/intellidox/internal/files"} {
			if strings.HasPrefix(p, prefix) {
				bad = append(bad, p)
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("cmd/intellidox links server packages (%d): %s", len(bad), strings.Join(bad, " "))
	}
}
