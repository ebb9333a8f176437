package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestSignatureChangeTriggersRescan adds a file's hash to the reputation
// list while the stack runs: the reputation engine reloads, announces its new
// signature version, and the api has that engine, and only it, rescan.
func TestSignatureChangeTriggersRescan(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(testenv.Root(), "rules", "reputation", "known-bad.csv"))
	require.NoError(t, err)
	list := testenv.NewReputationList(t, orig)
	stack := testenv.StartStack(t, testenv.StackOptions{Env: map[string]string{
		"REPUTATION_LISTS":         list.Env["REPUTATION_LISTS"],
		"REPUTATION_POLL":          "100ms",
		"SIGNATURE_CHECK_INTERVAL": "200ms",
	}})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	data := make([]byte, 4096)
	_, _ = rand.Read(data)
	up, err := c.UploadBytes(ctx, "soon-known-bad.bin", data)
	require.NoError(t, err)
	f, err := c.Wait(ctx, up.ID)
	require.NoError(t, err)
	require.Equal(t, contract.VerdictClean, f.Verdict)
	before, err := c.Scans(ctx, up.ID)
	require.NoError(t, err)
	rep := engine(t, before, "reputation")
	_, err = c.Download(ctx, up.ID)
	require.NoError(t, err, "a clean file downloads")
	key := objectKey(t, stack, up.ID)
	eventuallyTagged(t, stack, key, contract.VerdictClean)

	line := fmt.Sprintf("\"2026-11-27 00:00:00\", \"%s\", \"%s\", \"%s\", \"test\", \"x.bin\", \"bin\", \"application/octet-stream\", \"Test.Rescan\", \"n/a\", \"n/a\", \"n/a\", \"n/a\", \"n/a\"\n",
		f.SHA256, f.MD5, f.SHA1)
	list.Set(t, append(orig, line...)) // atomic, as the list's header advises

	require.Eventually(t, func() bool {
		f, err := c.Get(ctx, up.ID)
		return err == nil && f.Verdict == contract.VerdictMalicious
	}, 90*time.Second, 100*time.Millisecond, "the new signature must rescan and change the verdict")

	after, err := c.Scans(ctx, up.ID)
	require.NoError(t, err)
	newRep := engine(t, after, "reputation")
	assert.Equal(t, contract.Malicious, newRep.Result)
	assert.NotEqual(t, rep.SignatureVersion, newRep.SignatureVersion)
	assert.Contains(t, newRep.Threats[0], "Test.Rescan")
	for _, name := range []string{"clamav", "yara"} {
		assert.Equal(t, engine(t, before, name).ScannedAt, engine(t, after, name).ScannedAt,
			"%s's signatures did not change: it must not rescan", name)
	}
	h, err := c.History(ctx, up.ID)
	require.NoError(t, err)
	require.Len(t, h, 2, "the verdict history is kept")
	assert.Equal(t, contract.VerdictClean, h[0].Verdict)
	assert.Equal(t, contract.VerdictMalicious, h[1].Verdict)
	got, err := c.Get(ctx, up.ID)
	require.NoError(t, err)
	assert.Equal(t, "done", string(got.Status), "the file stays readable and done throughout")

	// The new verdict closes the download and flips the object's tags.
	var p *client.Problem
	_, err = c.Download(ctx, up.ID)
	require.ErrorAs(t, err, &p)
	assert.Equal(t, "verdict_blocks_download", p.Code)
	v := eventuallyTagged(t, stack, key, contract.VerdictMalicious)
	assert.Contains(t, v.Tags["intellidox-signatures"], "Test.Rescan")
}
