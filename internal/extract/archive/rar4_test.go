package archive

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

// rar4Samples are the RAR 4 builds that 7z must read as we do.
func rar4Samples() map[string][]byte {
	two := []samples.RAR4File{{Name: "a.txt", Body: []byte("first member\n")}, {Name: "dir\\eicar.com", Body: []byte(samples.EICAR)}}
	return map[string][]byte{
		"stored.rar":    samples.RAR4With(samples.RAR4Options{}, two...),
		"encrypted.rar": samples.RAR4With(samples.RAR4Options{Password: "infected"}, two...),
		"hp.rar":        samples.RAR4With(samples.RAR4Options{Password: "infected", EncryptHeaders: true}, two...),
	}
}

// TestRar4CrossCheck has 7z test and extract every RAR 4 build: it knows
// the format from RARLAB, we wrote the builder from the technote.
func TestRar4CrossCheck(t *testing.T) {
	if _, err := exec.LookPath("7z"); err != nil {
		testenv.SkipRequired(t, "7z is needed for the cross-check (scripts/infra.sh installs it)")
	}
	dir := t.TempDir()
	for name, data := range rar4Samples() {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(p, data, 0o600))
			out, err := exec.Command("7z", "t", "-pinfected", p).CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Contains(t, string(out), "Everything is Ok", name)
			to := filepath.Join(dir, name+".out")
			out, err = exec.Command("7z", "x", "-y", "-pinfected", "-o"+to, p).CombinedOutput()
			require.NoError(t, err, string(out))
			a, err := os.ReadFile(filepath.Join(to, "a.txt"))
			require.NoError(t, err)
			assert.Equal(t, "first member\n", string(a))
			e, err := os.ReadFile(filepath.Join(to, "dir", "eicar.com"))
			require.NoError(t, err)
			assert.Equal(t, samples.EICAR, string(e))
		})
	}
}
