package testcorpus

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// WriteSeeds writes seeds as the committed seed corpus of the fuzz target
// name (testdata/fuzz/<name>/ in the calling package), when the environment
// variable INTELLIDOX_WRITE_SEEDS is set; otherwise it does nothing. Each
// seed is one []byte argument.
//
//	INTELLIDOX_WRITE_SEEDS=1 go test -run Seeds ./internal/extract/...
func WriteSeeds(t *testing.T, name string, seeds ...[]byte) {
	t.Helper()
	if os.Getenv("INTELLIDOX_WRITE_SEEDS") == "" {
		t.Skip("set INTELLIDOX_WRITE_SEEDS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		sum := sha256.Sum256(s)
		file := filepath.Join(dir, "seed-"+hex.EncodeToString(sum[:8]))
		if err := os.WriteFile(file, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
