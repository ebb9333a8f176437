package files

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/problem"
)

// TestGate covers every verdict under every policy: clean always passes,
// malicious never does, suspicious and unscanned as the tenant chose, and a
// file without a verdict is pending rather than refused.
func TestGate(t *testing.T) {
	verdicts := []contract.Verdict{contract.VerdictClean, contract.VerdictSuspicious, contract.VerdictUnscanned,
		contract.VerdictMalicious, contract.VerdictPending, ""}
	for _, p := range []DownloadPolicy{{}, {AllowSuspicious: true}, {AllowUnscanned: true}, {AllowSuspicious: true, AllowUnscanned: true}} {
		for _, v := range verdicts {
			err := Gate(v, p, []string{"clamav: Eicar"})
			want := ""
			switch {
			case v == contract.VerdictClean,
				v == contract.VerdictSuspicious && p.AllowSuspicious,
				v == contract.VerdictUnscanned && p.AllowUnscanned:
			case v == contract.VerdictPending || v == "":
				want = "verdict_pending"
			default:
				want = "verdict_blocks_download"
			}
			if want == "" {
				assert.NoError(t, err, "%s under %+v", v, p)
				continue
			}
			var pe *problem.Error
			require.True(t, errors.As(err, &pe), "%s under %+v: %v", v, p, err)
			assert.Equal(t, want, pe.Code, "%s under %+v", v, p)
			if want == "verdict_blocks_download" {
				assert.Equal(t, problem.Forbidden, pe.Kind)
				assert.Equal(t, v, pe.Extensions["verdict"])
				assert.Equal(t, []string{"clamav: Eicar"}, pe.Extensions["reasons"])
			} else {
				assert.Equal(t, problem.Conflict, pe.Kind)
			}
		}
	}
}

func TestVerdictTags(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.FixedZone("x", 3600))
	o := Outcome{File: File{Verdict: contract.VerdictMalicious}, ScannedAt: at,
		Signatures: []string{"Win.Test.EICAR_HDB-1", "yara:Eicar test*", "ünïcode"}}
	assert.Equal(t, map[string]string{
		TagVerdict:    "malicious",
		TagScannedAt:  "2026-12-02T11:00:00Z",
		TagSignatures: "Win.Test.EICAR_HDB-1 yara:Eicar_test_ _n_code",
	}, VerdictTags(o))

	// No verdict yet (a rejected file's content, say) is unscanned, never absent.
	assert.Equal(t, "unscanned", VerdictTags(Outcome{File: File{Verdict: contract.VerdictPending}})[TagVerdict])

	// S3 allows 256 characters in a tag value: whole names only.
	long := Outcome{File: File{Verdict: contract.VerdictMalicious}, Signatures: []string{strings.Repeat("a", 200), strings.Repeat("b", 60), "c"}}
	assert.Equal(t, strings.Repeat("a", 200)+" c", VerdictTags(long)[TagSignatures])
}

// fakeBucket records what the actions do to storage and to the records,
// in order, over an in-memory bucket.
type fakeBucket struct {
	ops     []string
	bucket  map[string]bool
	outcome Outcome
	failAt  string // an op that fails, e.g. "rename"
}

func (f *fakeBucket) Get(context.Context, string, string) (File, error)          { return File{}, nil }
func (f *fakeBucket) Results(context.Context, string) ([]contract.Result, error) { return nil, nil }
func (f *fakeBucket) DownloadPolicy(context.Context, string) (DownloadPolicy, error) {
	return DownloadPolicy{}, nil
}
func (f *fakeBucket) SetDownloadPolicy(context.Context, string, DownloadPolicy) (DownloadPolicy, error) {
	return DownloadPolicy{}, nil
}
func (f *fakeBucket) DownloadPolicyAudit(context.Context, string, int) ([]PolicyChange, error) {
	return nil, nil
}
func (f *fakeBucket) Outcome(context.Context, string) (Outcome, error) {
	o := f.outcome
	o.Keys = append([]string(nil), f.outcome.Keys...)
	return o, nil
}
func (f *fakeBucket) WithObjectLock(ctx context.Context, _ string, fn func(context.Context) error) error {
	f.ops = append(f.ops, "lock")
	defer func() { f.ops = append(f.ops, "unlock") }()
	return fn(ctx)
}
func (f *fakeBucket) step(op string) error {
	f.ops = append(f.ops, op)
	if strings.HasPrefix(op, f.failAt+" ") {
		return errors.New(op + " failed")
	}
	return nil
}
func (f *fakeBucket) RenameObject(_ context.Context, from, to string) error {
	if err := f.step("rename " + from + " " + to); err != nil {
		return err
	}
	for i, k := range f.outcome.Keys {
		if k == from {
			f.outcome.Keys[i] = to
		}
	}
	return nil
}
func (f *fakeBucket) PresignGet(context.Context, string, string, time.Duration) (PresignedGet, error) {
	return PresignedGet{}, nil
}
func (f *fakeBucket) PutTags(_ context.Context, key string, tags map[string]string) error {
	return f.step("tag " + key + " " + tags[TagVerdict])
}
func (f *fakeBucket) TagSource(_ context.Context, o SourceObject, tags map[string]string) error {
	return f.step("tag s3://" + o.Bucket + "/" + o.Key + " " + tags[TagVerdict])
}
func (f *fakeBucket) Copy(_ context.Context, from, to string) error {
	if err := f.step("copy " + from + " " + to); err != nil {
		return err
	}
	if !f.bucket[from] {
		return errors.New("copy of a missing object")
	}
	f.bucket[to] = true
	return nil
}
func (f *fakeBucket) Delete(_ context.Context, key string) error {
	if err := f.step("delete " + key); err != nil {
		return err
	}
	delete(f.bucket, key)
	return nil
}

// TestQuarantine: malicious content moves under the prefix (copy, then the
// records, then the old object goes), moves back when a rescan clears it,
// and a failure part-way never leaves the records naming a missing object.
func TestQuarantine(t *testing.T) {
	f := &fakeBucket{bucket: map[string]bool{"blobs/a": true, "blobs/b": true},
		outcome: Outcome{File: File{SHA256: "s", Status: Done, Verdict: contract.VerdictMalicious}, Keys: []string{"blobs/a", "blobs/b"}}}
	a := NewActions(f, f, nil, ActionConfig{Quarantine: "quarantine/"})
	ctx := context.Background()
	recordsExist := func() {
		t.Helper()
		for _, k := range f.outcome.Keys {
			assert.True(t, f.bucket[k], "the records name %s, which storage lacks", k)
		}
	}

	require.NoError(t, a.OnFileEvent(ctx, EventCompleted, "id", ""))
	assert.Equal(t, []string{"lock",
		"copy blobs/a quarantine/blobs/a", "rename blobs/a quarantine/blobs/a", "delete blobs/a",
		"copy blobs/b quarantine/blobs/b", "rename blobs/b quarantine/blobs/b", "delete blobs/b",
		"tag quarantine/blobs/a malicious", "tag quarantine/blobs/b malicious", "unlock"}, f.ops)
	assert.Equal(t, map[string]bool{"quarantine/blobs/a": true, "quarantine/blobs/b": true}, f.bucket)
	recordsExist()

	f.ops = nil
	require.NoError(t, a.OnFileEvent(ctx, EventCompleted, "id", ""), "a redelivery")
	assert.Equal(t, []string{"lock", "delete blobs/a", "delete blobs/b",
		"tag quarantine/blobs/a malicious", "tag quarantine/blobs/b malicious", "unlock"}, f.ops, "nothing moves twice")

	f.outcome.File.Verdict = contract.VerdictClean
	for _, failAt := range []string{"copy", "rename", "delete", "tag"} {
		f.failAt, f.ops = failAt, nil
		assert.Error(t, a.OnFileEvent(ctx, EventVerdictChanged, "id", contract.VerdictMalicious), failAt)
		recordsExist()
	}
	f.failAt, f.ops = "", nil
	require.NoError(t, a.OnFileEvent(ctx, EventVerdictChanged, "id", contract.VerdictMalicious))
	assert.Equal(t, map[string]bool{"blobs/a": true, "blobs/b": true}, f.bucket, "cleared content moves back")
	recordsExist()

	// Without a quarantine prefix nothing moves.
	f.outcome.File.Verdict = contract.VerdictMalicious
	f.ops = nil
	require.NoError(t, NewActions(f, f, nil, ActionConfig{}).OnFileEvent(ctx, EventCompleted, "id", ""))
	assert.Equal(t, []string{"tag blobs/a malicious", "tag blobs/b malicious"}, f.ops)

	// A file read from a protected bucket: its source is tagged too.
	f.outcome.Sources = []SourceObject{{Bucket: "inbox", Key: "in/a.pdf", ETag: "e1"}}
	f.ops = nil
	require.NoError(t, NewActions(f, f, nil, ActionConfig{}).OnFileEvent(ctx, EventCompleted, "id", ""))
	assert.Equal(t, []string{"tag blobs/a malicious", "tag blobs/b malicious", "tag s3://inbox/in/a.pdf malicious"}, f.ops)
}
