package files

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/verdict"
)

// The lifecycle's transitions, without a database: each case gives a
// content, runs one transition and compares the whole outcome (the
// content, every upload, what is to be saved, and the events) with the
// expected one, line by line.

var (
	t0     = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	policy = verdict.Policy{Engines: []string{"a", "b"}}
)

type uploadOpt func(*LiveUpload)

var (
	sent        uploadOpt = func(u *LiveUpload) { u.Dispatched = true }
	held        uploadOpt = func(u *LiveUpload) { u.Holds = true }
	stale       uploadOpt = func(u *LiveUpload) { u.UpdatedAt = t0.Add(-time.Hour) }
	noBytes     uploadOpt = func(u *LiveUpload) { u.ObjectKey = "" }
	redriven              = func(n int) uploadOpt { return func(u *LiveUpload) { u.Redrives = n } }
	confirmedAt           = func(d time.Duration) uploadOpt {
		return func(u *LiveUpload) { u.ConfirmedAt = t0.Add(d) }
	}
)

// up is upload id of tenant "t"+id[1:], with its own bytes at "obj-"+id.
func up(id string, st Status, opts ...uploadOpt) *LiveUpload {
	u := &LiveUpload{ID: id, Tenant: "t" + id[1:], Size: 10, Status: st, ObjectKey: "obj-" + id, UpdatedAt: t0}
	if st != AwaitingUpload {
		u.ConfirmedAt = t0.Add(-2 * time.Hour)
	}
	for _, o := range opts {
		o(u)
	}
	return u
}

func res(engine string, o contract.Outcome, at time.Time) contract.Result {
	return contract.Result{Engine: engine, Result: o, ScannedAt: at}
}

// content is stored content in state, carried by carrier's bytes.
func content(state string, v contract.Verdict, carrier string, results []contract.Result, uploads ...*LiveUpload) *Content {
	return &Content{SHA256: "sha", Now: t0, Stored: true, State: state, Size: 10, ObjectKey: "obj-" + carrier,
		Verdict: v, Results: results, Uploads: uploads}
}

func unstored(uploads ...*LiveUpload) *Content {
	return &Content{SHA256: "sha", Now: t0, State: BlobNew, Verdict: contract.VerdictPending, Uploads: uploads}
}

func both(o contract.Outcome) []contract.Result {
	return []contract.Result{res("a", o, t0.Add(-time.Hour)), res("b", o, t0.Add(-time.Hour))}
}

func extracted(objectKey string) contract.FileExtracted {
	return contract.FileExtracted{SHA256: "sha", ObjectKey: objectKey, Size: 10, MD5: "m"}
}

func rejected(objectKey string) contract.FileExtracted {
	ev := extracted(objectKey)
	ev.Rejection = &contract.Rejection{Code: "hash_mismatch", Reason: "other bytes"}
	return ev
}

// describe writes the outcome of a transition as lines.
func describe(c *Content) []string {
	out := []string{strings.TrimSpace(fmt.Sprintf("content %s %s %s %s", c.State, c.Verdict, c.ObjectKey, c.Reason))}
	for _, u := range c.Uploads {
		l := fmt.Sprintf("%s %s", u.ID, u.Status)
		if u.Dispatched {
			l += " sent"
		}
		if u.Holds {
			l += " held"
		}
		if u.Redrives > 0 {
			l += fmt.Sprintf(" redrives=%d", u.Redrives)
		}
		if u.Reason != "" {
			l += " (" + u.Reason + ")"
		}
		out = append(out, l)
	}
	if c.Record != nil {
		out = append(out, "save: the extractor's record")
	}
	if len(c.Keep) > 0 {
		out = append(out, fmt.Sprintf("save: keep %d lists", len(c.Keep)))
	}
	for _, r := range c.Recorded {
		out = append(out, fmt.Sprintf("save: result %s %s", r.Engine, r.Result))
	}
	if c.Decided {
		out = append(out, "save: history "+string(c.Verdict))
	}
	for _, t := range c.Proven {
		out = append(out, "save: "+t+" holds it")
	}
	for _, ev := range c.Events {
		switch e := ev.Data.(type) {
		case contract.FileCompleted:
			out = append(out, fmt.Sprintf("event: completed %s %s %s", e.FileID, e.Status, e.Verdict))
		case contract.FileUploaded:
			out = append(out, fmt.Sprintf("event: uploaded %s %s", e.FileID, e.ObjectKey))
		case contract.FileExtracted:
			out = append(out, fmt.Sprintf("event: rescan %s %v", e.FileID, e.Engines))
		case contract.FileVerdictChanged:
			out = append(out, fmt.Sprintf("event: verdict_changed %s -> %s to every finished upload", e.Previous, e.Verdict))
		default:
			out = append(out, fmt.Sprintf("event: %s %T", ev.Topic, e))
		}
	}
	return out
}

func TestLifecycle(t *testing.T) {
	later := t0.Add(time.Minute)
	tests := []struct {
		name   string
		c      *Content
		op     func(c *Content) (string, error)
		err    error
		action string
		want   []string
	}{
		// Confirm: OnConfirm's four answers.
		{name: "confirm, new content: its bytes carry it",
			c:  unstored(up("u1", AwaitingUpload)),
			op: confirmOp("u1"),
			want: []string{"content processing pending obj-u1", "u1 processing sent",
				"event: uploaded u1 obj-u1"}},
		{name: "confirm twice: nothing more",
			c:    content(BlobProcessing, contract.VerdictPending, "u1", nil, up("u1", Processing, sent)),
			op:   confirmOp("u1"),
			want: []string{"content processing pending obj-u1", "u1 processing sent"}},
		{name: "confirm while another upload's bytes carry it: wait, so that it is scanned once",
			c:    content(BlobProcessing, contract.VerdictPending, "u1", nil, up("u1", Processing, sent), up("u2", AwaitingUpload)),
			op:   confirmOp("u2"),
			want: []string{"content processing pending obj-u1", "u1 processing sent", "u2 processing"}},
		{name: "confirm settled content another tenant proved: verify this upload's own bytes",
			c:    content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u2", AwaitingUpload)),
			op:   confirmOp("u2"),
			want: []string{"content verified clean obj-u1", "u2 processing sent", "event: uploaded u2 obj-u2"}},
		{name: "confirm settled content the tenant holds: done at once",
			c:  content(BlobVerified, contract.VerdictMalicious, "u1", both(contract.Malicious), up("u2", AwaitingUpload, held)),
			op: confirmOp("u2"),
			want: []string{"content verified malicious obj-u1", "u2 done held",
				"event: completed u2 done malicious"}},
		{name: "confirm after the content was rejected: these bytes carry it",
			c: func() *Content {
				c := content(BlobRejected, contract.VerdictPending, "u1", nil, up("u2", AwaitingUpload))
				c.Reason = "hash_mismatch: other bytes"
				return c
			}(),
			op:   confirmOp("u2"),
			want: []string{"content processing pending obj-u2", "u2 processing sent", "event: uploaded u2 obj-u2"}},
		{name: "confirm an upload not loaded",
			c:    unstored(),
			op:   confirmOp("u9"),
			err:  ErrNotFound,
			want: []string{"content new pending"}},

		// Extracted: OnExtraction's five answers.
		{name: "first verified bytes, an engine missing: recorded, no verdict",
			c:  content(BlobProcessing, contract.VerdictPending, "u1", []contract.Result{res("a", contract.Clean, t0)}, up("u1", Processing, sent)),
			op: extractedOp(extracted("obj-u1")),
			want: []string{"content verified pending obj-u1", "u1 processing sent held",
				"save: the extractor's record", "save: t1 holds it"}},
		{name: "first verified bytes after every engine: verdict, done, and a waiting upload's bytes sent",
			c: content(BlobProcessing, contract.VerdictPending, "u1", both(contract.Clean),
				up("u1", Processing, sent), up("u2", Processing)),
			op: extractedOp(extracted("obj-u1")),
			want: []string{"content verified clean obj-u1", "u1 done sent held", "u2 processing sent",
				"save: the extractor's record", "save: history clean", "save: t1 holds it",
				"event: completed u1 done clean", "event: uploaded u2 obj-u2"}},
		{name: "an upload's own bytes of verified content: proven, done, its lists kept",
			c: content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u2", Processing, sent)),
			op: extractedOp(func() contract.FileExtracted {
				ev := extracted("obj-u2")
				ev.Passwords = []contract.SealedPasswords{{Source: contract.PasswordsUpload, Sealed: "x"}}
				return ev
			}()),
			want: []string{"content verified clean obj-u1", "u2 done sent held", "save: keep 1 lists",
				"save: t2 holds it", "event: completed u2 done clean"}},
		{name: "an upload with no bytes of its own is proven by the extraction naming it",
			c:  content(BlobProcessing, contract.VerdictPending, "u1", both(contract.Clean), up("u1", Processing, sent), up("u3", Processing, noBytes)),
			op: extractedOp(func() contract.FileExtracted { ev := extracted("obj-u1"); ev.FileID = "u3"; return ev }()),
			want: []string{"content verified clean obj-u1", "u1 done sent held", "u3 done held",
				"save: the extractor's record", "save: history clean", "save: t1 holds it", "save: t3 holds it",
				"event: completed u1 done clean", "event: completed u3 done clean"}},
		{name: "the carrier's bytes rejected: the content and uploads relying on them; the oldest waiting upload carries it",
			c: content(BlobProcessing, contract.VerdictPending, "u1", nil, up("u1", Processing, sent),
				up("u3", Processing, confirmedAt(-time.Minute)), up("u2", Processing, confirmedAt(-time.Hour))),
			op: extractedOp(rejected("obj-u1")),
			want: []string{"content processing pending obj-u2", "u1 rejected sent (hash_mismatch: other bytes)",
				"u3 processing", "u2 processing sent",
				"event: completed u1 rejected unscanned", "event: uploaded u2 obj-u2"}},
		{name: "one upload's own bytes rejected: only that upload",
			c:  content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u2", Processing, sent), up("u3", Processing, sent)),
			op: extractedOp(rejected("obj-u2")),
			want: []string{"content verified clean obj-u1", "u2 rejected sent (hash_mismatch: other bytes)", "u3 processing sent",
				"event: completed u2 rejected unscanned"}},
		{name: "a late rejection of bytes verified since: ignored",
			c:    content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u2", Processing, sent)),
			op:   extractedOp(rejected("obj-u1")),
			want: []string{"content verified clean obj-u1", "u2 processing sent"}},
		{name: "an extraction of content never confirmed: nothing",
			c:    unstored(),
			op:   extractedOp(extracted("obj-u1")),
			want: []string{"content new pending"}},

		// Scanned.
		{name: "a result before the bytes are verified: recorded, no verdict",
			c:    content(BlobProcessing, contract.VerdictPending, "u1", []contract.Result{res("a", contract.Clean, t0)}, up("u1", Processing, sent)),
			op:   scannedOp(res("b", contract.Clean, t0)),
			want: []string{"content processing pending obj-u1", "u1 processing sent", "save: result b clean"}},
		{name: "the last engine of verified content: verdict, done",
			c:  content(BlobVerified, contract.VerdictPending, "u1", []contract.Result{res("a", contract.Clean, t0)}, up("u1", Processing, sent, held)),
			op: scannedOp(res("b", contract.Malicious, t0)),
			want: []string{"content verified malicious obj-u1", "u1 done sent held", "save: result b malicious",
				"save: history malicious", "event: completed u1 done malicious"}},
		{name: "a redelivered older result: not recorded",
			c:    content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean)),
			op:   scannedOp(res("b", contract.Malicious, t0.Add(-2*time.Hour))),
			want: []string{"content verified clean obj-u1"}},
		{name: "a rescan that changes the verdict: announced to every finished upload",
			c:  content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean)),
			op: scannedOp(res("b", contract.Malicious, later)),
			want: []string{"content verified malicious obj-u1", "save: result b malicious", "save: history malicious",
				"event: verdict_changed clean -> malicious to every finished upload"}},
		{name: "a rescan that confirms the verdict: nothing announced",
			c:    content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean)),
			op:   scannedOp(res("b", contract.Clean, later)),
			want: []string{"content verified clean obj-u1", "save: result b clean"}},
		{name: "a result for content never confirmed: nothing",
			c:    unstored(),
			op:   scannedOp(res("a", contract.Clean, t0)),
			want: []string{"content new pending"}},

		// Rescan.
		{name: "rescan of held, verified content",
			c:    content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u1", Done, held)),
			op:   rescanOp("t1", "u1", []string{"a"}),
			want: []string{"content verified clean obj-u1", "u1 done held", "event: rescan u1 [a]"}},
		{name: "rescan before the tenant proved possession: not ready, as if nobody had it",
			c:    content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u2", Processing, sent)),
			op:   rescanOp("t2", "u2", nil),
			err:  ErrNotReady,
			want: []string{"content verified clean obj-u1", "u2 processing sent"}},
		{name: "rescan before the first verification: not ready",
			c:    content(BlobProcessing, contract.VerdictPending, "u1", nil, up("u1", Processing, sent, held)),
			op:   rescanOp("t1", "u1", nil),
			err:  ErrNotReady,
			want: []string{"content processing pending obj-u1", "u1 processing sent held"}},
		{name: "rescan of another tenant's upload: not found",
			c:    content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u1", Done, held)),
			op:   rescanOp("t2", "u1", nil),
			err:  ErrNotFound,
			want: []string{"content verified clean obj-u1", "u1 done held"}},

		// Reconcile (stuck after a minute, two re-drives).
		{name: "reconcile, nothing stuck",
			c:    content(BlobProcessing, contract.VerdictPending, "u1", nil, up("u1", Processing, sent)),
			op:   reconcileOp,
			want: []string{"content processing pending obj-u1", "u1 processing sent"}},
		{name: "reconcile a lost extraction: the carrier's bytes sent again",
			c:      content(BlobProcessing, contract.VerdictPending, "u1", nil, up("u1", Processing, sent, stale), up("u2", Processing)),
			op:     reconcileOp,
			action: RedriveExtract,
			want: []string{"content processing pending obj-u1", "u1 processing sent redrives=1", "u2 processing redrives=1",
				"event: uploaded u1 obj-u1"}},
		{name: "reconcile content with no carrier left: the waiting upload carries it",
			c:      content(BlobRejected, contract.VerdictPending, "u1", nil, up("u2", Processing, stale)),
			op:     reconcileOp,
			action: RedriveExtract,
			want:   []string{"content processing pending obj-u2", "u2 processing sent redrives=1", "event: uploaded u2 obj-u2"}},
		{name: "reconcile a lost engine: only it is asked again",
			c: content(BlobVerified, contract.VerdictPending, "u1", []contract.Result{res("a", contract.Clean, t0)},
				up("u1", Processing, sent, held, stale, redriven(1))),
			op:     reconcileOp,
			action: RedriveScan,
			want:   []string{"content verified pending obj-u1", "u1 processing sent held redrives=2", "event: rescan u1 [b]"}},
		{name: "reconcile a lost proof: the upload's own bytes sent again",
			c:      content(BlobVerified, contract.VerdictClean, "u1", both(contract.Clean), up("u2", Processing, sent, stale)),
			op:     reconcileOp,
			action: RedriveVerify,
			want:   []string{"content verified clean obj-u1", "u2 processing sent redrives=1", "event: uploaded u2 obj-u2"}},
		{name: "reconcile a verdict never settled: settled",
			c:      content(BlobVerified, contract.VerdictPending, "u1", both(contract.Clean), up("u1", Processing, sent, held, stale)),
			op:     reconcileOp,
			action: Settled,
			want: []string{"content verified clean obj-u1", "u1 done sent held", "save: history clean",
				"event: completed u1 done clean"}},
		{name: "give up on content never verified: rejected",
			c:      content(BlobProcessing, contract.VerdictPending, "u1", nil, up("u1", Processing, sent, stale, redriven(2))),
			op:     reconcileOp,
			action: FinishedUnscanned,
			want: []string{"content rejected pending obj-u1 extraction_timeout: the extractor never reported after repeated re-drives",
				"u1 rejected sent redrives=2 (extraction_timeout: the extractor never reported after repeated re-drives)",
				"event: completed u1 rejected unscanned"}},
		{name: "give up on a missing engine: an error result, unscanned; unproven bytes rejected",
			c: content(BlobVerified, contract.VerdictPending, "u1", []contract.Result{res("a", contract.Clean, t0)},
				up("u1", Processing, sent, held, stale, redriven(2)), up("u2", Processing, sent)),
			op:     reconcileOp,
			action: FinishedUnscanned,
			want: []string{"content verified unscanned obj-u1",
				"u1 done sent held redrives=2 (engines that never reported: b)",
				"u2 rejected sent (extraction_timeout: the extractor never verified this upload's bytes after repeated re-drives)",
				"save: result b error", "save: history unscanned",
				"event: completed u1 done unscanned", "event: completed u2 rejected unscanned"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			action, err := tt.op(tt.c)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.action, action)
			assert.Equal(t, tt.want, describe(tt.c))
		})
	}
}

func confirmOp(id string) func(*Content) (string, error) {
	return func(c *Content) (string, error) { return "", c.Confirm(id) }
}

func extractedOp(ev contract.FileExtracted) func(*Content) (string, error) {
	return func(c *Content) (string, error) { c.Extracted(ev, policy); return "", nil }
}

func scannedOp(r contract.Result) func(*Content) (string, error) {
	return func(c *Content) (string, error) {
		c.Scanned(contract.ScanCompleted{SHA256: "sha", Result: r}, policy)
		return "", nil
	}
}

func rescanOp(tenant, id string, engines []string) func(*Content) (string, error) {
	return func(c *Content) (string, error) { return "", c.Rescan(tenant, id, engines) }
}

func reconcileOp(c *Content) (string, error) { return c.Reconcile(time.Minute, 2, policy), nil }
