package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestEmptyFile: a 0-byte upload is a file like any other: storage takes the
// empty PUT, the extractor verifies the empty hash, and every engine scans
// the empty object and gives its own result; nothing is declared clean
// without them.
func TestEmptyFile(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := stack.Client()
	before := engineCalls(t, stack)

	up, err := c.UploadBytes(ctx, "empty.txt", nil)
	require.NoError(t, err)
	require.NotNil(t, up.Upload, "new content: the empty bytes are uploaded like any others")
	f, err := c.Wait(ctx, up.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Done, f.Status)
	assert.Equal(t, int64(0), f.Size)
	assert.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", f.SHA256)
	assert.Equal(t, "d41d8cd98f00b204e9800998ecf8427e", f.MD5, "the extractor read and hashed the empty object")
	assert.NotEqual(t, contract.VerdictPending, f.Verdict)

	require.Eventually(t, func() bool {
		s, err := c.Scans(ctx, up.ID)
		return err == nil && len(s.Engines) == scannerApps(t, stack)
	}, time.Minute, 50*time.Millisecond, "every engine reports on the empty file")
	s, err := c.Scans(ctx, up.ID)
	require.NoError(t, err)
	assert.True(t, s.Complete)
	for _, r := range s.Engines {
		assert.NotEqual(t, contract.Skipped, r.Result, "%s skipped the empty file: %s", r.Engine, r.Detail)
		assert.NotEqual(t, contract.Error, r.Result, "%s failed on the empty file: %s", r.Engine, r.Detail)
		assert.NotEmpty(t, r.EngineVersion, "%s: a real engine answered", r.Engine)
		t.Logf("%s: %s %v", r.Engine, r.Result, r.Threats)
	}
	require.Positive(t, meteredScanners(t, stack))
	assert.Equal(t, before+meteredScanners(t, stack), engineCalls(t, stack), "every engine ran on the empty object")
}
