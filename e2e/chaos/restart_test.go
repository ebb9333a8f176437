package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestChaosRulesChangedWhileScannerDown changes the yara rule pack while
// scanner-yara is down (a deploy of new rules is a restart), then starts it
// again: the scanner must notice at start that its signature version is
// not the one it last announced, publish engine.updated, and the api must
// rescan, so a file the new rules flag stops being "clean".
//
// It found a bug: the scanner read its last announced version once, before
// its sidecar was up, and saved the change without announcing it
// (scan.WatchSignatures now retries the read; docs/chaos.md).
func TestChaosRulesChangedWhileScannerDown(t *testing.T) {
	cfg := loadConfig(t)
	rules := t.TempDir()
	src := filepath.Join(testenv.Root(), "rules", "yara")
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(rules, e.Name()), b, 0o644))
	}
	r := newRun(t, cfg, "rules changed while down", testenv.StackOptions{Env: map[string]string{
		"YARA_RULES_DIR": rules, "SIGNATURE_CHECK_INTERVAL": "1s",
	}})
	ctx, cancel := context.WithTimeout(r.ctx, 3*time.Minute)
	defer cancel()

	marker := fmt.Sprintf("IDX-CHAOS-NEW-RULE-%d", time.Now().UnixNano())
	up, err := r.c.UploadBytes(ctx, "soon-flagged.txt", []byte("an ordinary file, until the rules know "+marker+"\n"))
	require.NoError(t, err)
	f, err := r.c.Wait(ctx, up.ID)
	require.NoError(t, err)
	require.Equal(t, contract.VerdictClean, f.Verdict)
	// The running scanner has recorded the version it announced.
	key := "scanresults||" + scan.VersionKey("yara")
	for deadline := time.Now().Add(time.Minute); ; {
		n, err := redisDo(r.stack.Redis, "EXISTS", key)
		if err == nil && n == int64(1) {
			break
		}
		require.True(t, time.Now().Before(deadline), "scanner-yara never stored %s", key)
		time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
	}

	r.stack.Launched.Kill("scanner-yara", true)
	rule := fmt.Sprintf("rule Chaos_New_Rule\n{\n    meta:\n        severity = \"malicious\"\n    strings:\n        $m = %q\n    condition:\n        $m\n}\n", marker)
	require.NoError(t, os.WriteFile(filepath.Join(rules, "chaos.yar"), []byte(rule), 0o644))
	require.NoError(t, r.stack.Launched.StartApp("scanner-yara"))
	require.NoError(t, r.stack.Launched.WaitHealthy(ctx, "scanner-yara", 2*time.Minute))

	deadline := time.Now().Add(60 * time.Second)
	for {
		f, err := r.c.Get(ctx, up.ID)
		require.NoError(t, err)
		if f.Verdict == contract.VerdictMalicious {
			return
		}
		if time.Now().After(deadline) {
			scans, _ := r.c.Scans(ctx, up.ID)
			t.Fatalf("60 s after scanner-yara restarted with new rules the file is still %s: no rescan was queued.\nscans: %+v",
				f.Verdict, scans.Engines)
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}
