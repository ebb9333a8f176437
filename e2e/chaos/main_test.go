package chaos

import (
	"fmt"
	"os"
	"testing"

	"github.com/intellidox/intellidox/internal/testenv"
)

// TestMain checks every exchange with the api against docs/openapi.yaml,
// as in ./e2e (which also holds the document's coverage): faults must not
// make the api break its contract either.
func TestMain(m *testing.M) {
	contract, err := testenv.LoadContract()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	testenv.APIContract = contract
	os.Exit(m.Run())
}
