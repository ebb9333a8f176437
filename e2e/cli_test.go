package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/testenv"
)

type cliReport struct {
	File    string            `json:"file"`
	ID      string            `json:"id"`
	SHA256  string            `json:"sha256"`
	Status  string            `json:"status"`
	Verdict contract.Verdict  `json:"verdict"`
	Engines []contract.Result `json:"engines"`
	Known   bool              `json:"alreadyKnown"`
	Error   string            `json:"error"`
}

func TestCLI(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	bin := filepath.Join(t.TempDir(), "intellidox")
	build := exec.Command("go", "build", "-o", bin, "./cmd/intellidox")
	build.Dir = testenv.Root()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "INTELLIDOX_API="+stack.API, "INTELLIDOX_API_KEY="+stack.APIKey)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return stdout.String(), stderr.String(), code
	}

	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.txt")
	eicar := filepath.Join(dir, "eicar.com")
	require.NoError(t, os.WriteFile(clean, []byte("an ordinary file for the CLI test "+time.Now().String()), 0o600))
	require.NoError(t, os.WriteFile(eicar, []byte(EICAR), 0o600))

	stdout, stderr, code := run("scan", "--json", clean, eicar)
	assert.Equal(t, 1, code, "a malicious file fails the run; stderr: %s", stderr)
	var reports []cliReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &reports), stdout)
	require.Len(t, reports, 2)
	assert.Equal(t, contract.VerdictClean, reports[0].Verdict)
	assert.Equal(t, contract.VerdictMalicious, reports[1].Verdict)
	assert.Equal(t, "done", reports[1].Status)
	assert.NotEmpty(t, reports[1].Engines)
	assert.Equal(t, sha([]byte(EICAR)), reports[1].SHA256)

	stdout, _, code = run("scan", clean)
	assert.Equal(t, 0, code, "clean files pass")
	assert.Contains(t, stdout, "CLEAN")
	assert.Contains(t, stdout, "clean.txt")

	stdout, _, code = run("scan", "--fail-on", "malicious", "--json", clean)
	assert.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &reports))
	assert.True(t, reports[0].Known, "the second scan of the same bytes skips the upload")

	stdout, _, code = run("status", "--json", reports[0].ID)
	assert.Equal(t, 0, code)
	var st cliReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	assert.Equal(t, contract.VerdictClean, st.Verdict)

	stdout, _, code = run("get", "--sha256", sha([]byte(EICAR)))
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "eicar.com")
	assert.Contains(t, stdout, "MALICIOUS")

	stdout, _, code = run("rescan", reports[0].ID)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "queued")

	_, stderr, code = run("status", "00000000-0000-4000-8000-000000000000")
	assert.Equal(t, 3, code)
	assert.Contains(t, stderr, "not_found")

	_, _, code = run("scan")
	assert.Equal(t, 2, code, "no files is a usage error")
	_, _, code = run("get", "--sha256", "a", "--md5", "b")
	assert.Equal(t, 2, code)
	_, stderr, code = run("scan", filepath.Join(dir, "missing"))
	assert.Equal(t, 3, code)
	assert.Contains(t, stderr+stdout, "no such file")
}
