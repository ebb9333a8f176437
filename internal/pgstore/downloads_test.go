package pgstore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
)

// TestVerdictChange: a rescan that changes a finished content's verdict
// announces file.verdict_changed once per finished upload, and the outcome
// a file event acts on is read at that moment.
func TestVerdictChange(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	u := newUpload("flips", "a.txt")
	created(t, s, ctx, u)
	_, err := recordExtraction(s, ctx, extracted(u), policy)
	require.NoError(t, err)
	_, err = recordScan(s, ctx, withSHA(result("clamav", contract.Clean), u.SHA256), policy)
	require.NoError(t, err)
	ids, err := recordScan(s, ctx, withSHA(result("yara", contract.Clean), u.SHA256), policy)
	require.NoError(t, err)
	assert.Equal(t, []string{contract.TopicFileCompleted}, outboxTopics(t, pool, ids), "the first verdict is no change")

	o, err := s.Outcome(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, contract.VerdictClean, o.File.Verdict)
	assert.Equal(t, []string{u.ObjectKey}, o.Keys)
	assert.Empty(t, o.Signatures)
	assert.Positive(t, o.Version)
	first := o.Version

	// The same verdict again (a rescan with nothing new) is no change.
	ids, err = recordScan(s, ctx, withSHA(result("yara", contract.Clean), u.SHA256), policy)
	require.NoError(t, err)
	assert.Empty(t, ids)

	bad := withSHA(result("yara", contract.Malicious), u.SHA256)
	bad.Result.Threats = []string{"Eicar", "Dropper"}
	ids, err = recordScan(s, ctx, bad, policy)
	require.NoError(t, err)
	require.Equal(t, []string{contract.TopicVerdictChanged}, outboxTopics(t, pool, ids))
	var ev contract.FileVerdictChanged
	require.NoError(t, pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE id = $1`, ids[0]).Scan(&ev))
	assert.Equal(t, contract.FileVerdictChanged{Version: 1, FileID: u.ID, SHA256: u.SHA256,
		Verdict: contract.VerdictMalicious, Previous: contract.VerdictClean}, ev)

	o, err = s.Outcome(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, contract.VerdictMalicious, o.File.Verdict)
	assert.Equal(t, []string{"Dropper", "Eicar"}, o.Signatures)
	assert.Greater(t, o.Version, first)

	_, err = s.Outcome(ctx, "6f1c1f7e-0000-4000-8000-000000000000")
	assert.ErrorIs(t, err, files.ErrNotFound)
}

// TestDownloadPolicy: the default allows clean only; every change is
// audited with who and why, newest first, and stays with its tenant.
func TestDownloadPolicy(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p, err := s.DownloadPolicy(ctx, "t1")
	require.NoError(t, err)
	assert.Equal(t, files.DownloadPolicy{}, p)

	_, err = s.SetDownloadPolicy(ctx, "t1", files.DownloadPolicy{AllowSuspicious: true, UpdatedBy: "key-a", Reason: "triage team"})
	require.NoError(t, err)
	_, err = s.SetDownloadPolicy(ctx, "t1", files.DownloadPolicy{AllowUnscanned: true, UpdatedBy: "key-b", Reason: "archives"})
	require.NoError(t, err)
	p, err = s.DownloadPolicy(ctx, "t1")
	require.NoError(t, err)
	assert.False(t, p.AllowSuspicious)
	assert.True(t, p.AllowUnscanned)
	assert.Equal(t, "key-b", p.UpdatedBy)

	audit, err := s.DownloadPolicyAudit(ctx, "t1", 10)
	require.NoError(t, err)
	require.Len(t, audit, 2)
	assert.Equal(t, "key-b", audit[0].ChangedBy)
	assert.Equal(t, "archives", audit[0].Reason)
	assert.Equal(t, "key-a", audit[1].ChangedBy)
	assert.True(t, audit[1].AllowSuspicious)

	other, err := s.DownloadPolicyAudit(ctx, "t2", 10)
	require.NoError(t, err)
	assert.Empty(t, other)
	p, err = s.DownloadPolicy(ctx, "t2")
	require.NoError(t, err)
	assert.Equal(t, files.DownloadPolicy{}, p)
}
