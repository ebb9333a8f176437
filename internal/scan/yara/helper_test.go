package yara_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/scan/yara"
	"github.com/intellidox/intellidox/internal/testenv"
)

// helperBin is the yara-helper scripts/infra.sh builds.
func helperBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testenv.Root(), "bin", "yara-helper")
	if _, err := os.Stat(bin); err != nil {
		testenv.SkipRequired(t, "bin/yara-helper is missing: scripts/infra.sh builds it (Debian libyara-dev and golang-github-hillu-go-yara-dev)")
	}
	return bin
}

// The helper and the yara CLI judge every sample alike: same outcome,
// threats and detail, members, views and password lists included.
func TestHelperMatchesCLI(t *testing.T) {
	cli := newEngine(t, yara.Config{})
	helper := newEngine(t, yara.Config{Helper: helperBin(t)})
	cases := map[string][]byte{
		"eicar":          []byte(samples.EICAR),
		"eicar zip":      samples.EICARZip(),
		"eicar aes zip":  samples.EICARAESZip("infected"),
		"locked zip":     samples.EICARAESZip("in no list"),
		"eicar 7z":       samples.EICAR7z(),
		"macro docm":     samples.MacroDocumentShell(),
		"pdf objstm js":  samples.PDFObjStmJavaScript(),
		"pdf attachment": samples.PDFAttachment("eicar.com", []byte(samples.EICAR)),
		"powershell b64": samples.PowerShellEncodedCommand(),
		"ole embedding":  samples.DocEmbedding("payload.exe", []byte(samples.EICAR)),
		"clean text":     []byte(samples.Clean),
		"empty":          {},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			want := scanBytes(t, cli, data)
			got := scanBytes(t, helper, data)
			assert.Equal(t, want, got)
		})
	}
	// A member a list opens is named with its list by both.
	f := scan.File{Size: int64(len(samples.EICARAESZip("s3cret"))),
		Passwords: []archive.Passwords{archive.Builtin(), {Source: contract.PasswordsTenant, List: []string{"s3cret"}}}}
	got, err := helper.Scan(context.Background(), strings.NewReader(string(samples.EICARAESZip("s3cret"))), f)
	require.NoError(t, err)
	assert.Equal(t, contract.Malicious, got.Outcome)
	assert.Contains(t, got.Detail, "(opened with the tenant password list)")
}

// fakeHelper writes a stand-in for yara-helper that answers the start-up
// probe and then crashes on requests as script says.
func fakeHelper(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "helper")
	body := `#!/bin/sh
while IFS= read -r line; do
  case $line in
    *'"paths":[]'*) echo '{"matches":[]}'; continue ;;
  esac
` + script + `
done
`
	require.NoError(t, os.WriteFile(path, []byte(body), 0o755))
	return path
}

// A helper that crashes is replaced and the request tried once more; a
// second crash is reported as an error naming the crash, and the scanner
// goes on with a fresh helper.
func TestHelperCrashes(t *testing.T) {
	t.Run("twice: an error, not a verdict", func(t *testing.T) {
		e := newEngine(t, yara.Config{Helper: fakeHelper(t, `  echo "libyara: segmentation fault" >&2; exit 139`)})
		_, err := e.Scan(context.Background(), strings.NewReader("x"), scan.File{Size: 1})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "crashed twice on this file")
		assert.Contains(t, err.Error(), "segmentation fault")
		assert.NotErrorIs(t, err, scan.ErrUnavailable, "a file that crashes the engine is no transient failure")
	})
	t.Run("once: the retry answers", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "crashed")
		e := newEngine(t, yara.Config{Helper: fakeHelper(t, `  if [ ! -e `+marker+` ]; then touch `+marker+`; exit 1; fi
  echo '{"matches":[]}'`)})
		f, err := e.Scan(context.Background(), strings.NewReader("x"), scan.File{Size: 1})
		require.NoError(t, err)
		assert.Equal(t, contract.Clean, f.Outcome)
		_, err = os.Stat(marker)
		assert.NoError(t, err, "the first helper did crash")
	})
	t.Run("a helper that cannot start fails the engine at start", func(t *testing.T) {
		_, err := yara.New(context.Background(), yara.Config{RulesDir: rulesDir(), TempDir: t.TempDir(),
			Helper: filepath.Join(t.TempDir(), "missing")})
		assert.Error(t, err)
	})
}

// A helper stuck in a scan is killed when the scan's time is up.
func TestHelperTimeout(t *testing.T) {
	e := newEngine(t, yara.Config{Helper: fakeHelper(t, `  sleep 30`)})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.Scan(ctx, strings.NewReader("x"), scan.File{Size: 1})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second, "not the helper's 30 s")
}
