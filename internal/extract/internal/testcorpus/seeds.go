package testcorpus

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
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
	// Replace the generated seeds only: inputs the fuzzer found stay.
	old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
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

// Within runs fn and fails t if it has not returned after d. The fuzzing
// engine has no per-input timeout, so without this an input that makes a
// parser loop forever would stall a fuzzing run rather than fail it.
func Within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var panicked any
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		fn()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		if panicked != nil {
			t.Fatalf("panic: %v", panicked)
		}
	case <-timer.C:
		t.Fatalf("still running after %s", d)
	}
}
