package e2e

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/intellidox/intellidox/internal/testenv"
)

// TestMain puts docs/openapi.yaml between every test and the api: each
// stack's api, direct and through its sidecar, sits behind a validating
// proxy (testenv.APIContract), so every exchange of every test is checked.
// After a whole run it fails the package if a documented operation, or a
// status documented for it, was never exercised: what the document
// promises, some test has seen.
func TestMain(m *testing.M) {
	flag.Parse()
	contract, err := testenv.LoadContract()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	testenv.APIContract = contract
	code := m.Run()
	if code == 0 {
		code = coverage(contract)
	}
	os.Exit(code)
}

// coverage reports the documented "operation status" pairs no exchange
// showed. A run narrowed by -run or -skip, or one that reached no api (the
// AWS profile skipped), is not held to it.
func coverage(c *testenv.Contract) int {
	narrowed := flag.Lookup("test.run").Value.String() != "" || flag.Lookup("test.skip").Value.String() != ""
	missing := c.Missing()
	fmt.Printf("openapi: %d of %d documented operation statuses exercised, in %d checked exchanges\n",
		c.Documented()-len(missing), c.Documented(), c.Exchanges())
	switch {
	case len(missing) == 0:
		return 0
	case narrowed || c.Exchanges() == 0:
		fmt.Printf("openapi: coverage not enforced (a narrowed run, or no exchange); not exercised: %s\n",
			strings.Join(missing, ", "))
		return 0
	}
	fmt.Printf("--- FAIL: TestOpenAPICoverage\n    docs/openapi.yaml documents %d operation statuses no test exercised:\n        %s\n"+
		"    exercise each in an e2e test, or remove it from the document if the api cannot answer it\nFAIL\n",
		len(missing), strings.Join(missing, "\n        "))
	return 1
}
