package pgstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
)

// settled takes u (tenant t1) through confirm, extraction and every engine.
func settled(t *testing.T, s *Store, u files.NewUpload, o contract.Outcome) {
	t.Helper()
	ctx := context.Background()
	created(t, s, ctx, u)
	ev := extracted(u)
	ev.MD5, ev.SHA1, ev.MIMEType = "md5-of-a", "sha1-of-a", "application/pdf"
	ev.Metadata = map[string]any{"pdf": map[string]any{"author": "Alice"}}
	_, err := recordExtraction(s, ctx, ev, policy)
	require.NoError(t, err)
	for _, e := range policy.Engines {
		_, err = recordScan(s, ctx, withSHA(result(e, o), u.SHA256), policy)
		require.NoError(t, err)
	}
	f, err := s.Get(ctx, u.Tenant, u.ID)
	require.NoError(t, err)
	require.Equal(t, files.Done, f.Status)
}

// payloads decodes the outbox rows ids of topic.
func payloads[T any](t *testing.T, pool *pgxpool.Pool, ids []int64, topic string) []T {
	t.Helper()
	var out []T
	for _, id := range ids {
		var tp string
		var b []byte
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT topic, payload FROM outbox WHERE id = $1`, id).Scan(&tp, &b))
		if tp != topic {
			continue
		}
		var v T
		require.NoError(t, json.Unmarshal(b, &v))
		out = append(out, v)
	}
	return out
}

// visible is what a file shows its tenant, without what differs between any
// two uploads (id, name, timestamps, object).
func visible(f files.File) files.File {
	f.ID, f.Name, f.SHA256, f.ObjectKey, f.BlobState, f.Size = "", "", "", "", "", 0
	f.CreatedAt, f.UpdatedAt, f.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	return f
}

// TestPossession: a tenant that only knows a hash learns nothing of another
// tenant's content, and once it delivers the bytes it gets the verdict
// without a new scan.
func TestPossession(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a := newUpload("alice's confidential pdf", "plans.pdf")
	settled(t, s, a, contract.Malicious)

	// B only knows the hash; control: a hash nobody has.
	b := newUpload("alice's confidential pdf", "guess.pdf")
	b.Tenant = "t2"
	nobody := newUpload("content nobody has", "guess.pdf")
	nobody.Tenant = "t2"
	fb, err := s.CreateUpload(ctx, b)
	require.NoError(t, err)
	fn, err := s.CreateUpload(ctx, nobody)
	require.NoError(t, err)
	assert.Equal(t, files.AwaitingUpload, fb.Status, "a hash is no proof: B must upload the bytes")
	assert.Equal(t, b.ObjectKey, fb.ObjectKey, "B's bytes go to B's own object")
	assert.Equal(t, visible(fn), visible(fb), "create answers as if A's content did not exist")
	var blobs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM blobs WHERE sha256 = $1`, nobody.SHA256).Scan(&blobs))
	assert.Zero(t, blobs, "declaring a hash writes nothing about the content: both creates do the same work")

	wrongSize := newUpload("alice's confidential pdf", "x.pdf")
	wrongSize.Tenant, wrongSize.Size = "t2", 3
	fw, err := s.CreateUpload(ctx, wrongSize)
	require.NoError(t, err, "size_conflict speaks only of the caller's own content")
	assert.Equal(t, files.AwaitingUpload, fw.Status)

	gb, err := s.Get(ctx, "t2", b.ID)
	require.NoError(t, err)
	gn, err := s.Get(ctx, "t2", nobody.ID)
	require.NoError(t, err)
	assert.Equal(t, visible(gn), visible(gb), "a lookup shows nothing derived from A's content")
	assert.Empty(t, gb.MD5)
	assert.JSONEq(t, `{"findings":[]}`, string(gb.Metadata))
	assert.Equal(t, contract.VerdictPending, gb.Verdict)

	for _, q := range []files.Query{{MD5: "md5-of-a"}, {SHA1: "sha1-of-a"}, {Text: "md5-of-a"}, {Text: "sha1-of-a"}} {
		q.Limit = 10
		l, _, err := s.List(ctx, "t2", q)
		require.NoError(t, err)
		assert.Empty(t, l, "listing by %+v must not match A's content's hashes", q)
	}
	_, _, err = rescan(s, ctx, "t2", b.ID, nil)
	assert.ErrorIs(t, err, files.ErrNotReady, "rescan answers as for content nobody verified")
	_, _, err = rescan(s, ctx, "t2", nobody.ID, nil)
	assert.ErrorIs(t, err, files.ErrNotReady)

	// An upload B creates now, before any proof, waits for bytes too.
	early := newUpload("alice's confidential pdf", "early.pdf")
	early.Tenant = "t2"
	_, err = s.CreateUpload(ctx, early)
	require.NoError(t, err)

	// B delivers the bytes: its own object is extracted (to verify it), no
	// content state changes, and the verdict is A's.
	_, ids, err := confirm(s, ctx, "t2", b.ID)
	require.NoError(t, err)
	up := payloads[contract.FileUploaded](t, pool, ids, contract.TopicFileUploaded)
	require.Len(t, up, 1, "B's bytes are verified at once: the content is settled")
	assert.Equal(t, b.ObjectKey, up[0].ObjectKey)
	gb, err = s.Get(ctx, "t2", b.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Processing, gb.Status, "not done before the extractor verified B's bytes")
	assert.Equal(t, contract.VerdictPending, gb.Verdict)

	ids, err = recordExtraction(s, ctx, extracted(b), policy)
	require.NoError(t, err)
	done := payloads[contract.FileCompleted](t, pool, ids, contract.TopicFileCompleted)
	require.Len(t, done, 1)
	assert.Equal(t, b.ID, done[0].FileID)
	assert.Equal(t, contract.VerdictMalicious, done[0].Verdict)
	gb, err = s.Get(ctx, "t2", b.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Done, gb.Status)
	assert.Equal(t, "md5-of-a", gb.MD5, "possession proven: B sees the content's metadata")
	assert.Contains(t, string(gb.Metadata), "Alice")
	var history int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM verdict_history WHERE sha256 = $1`, a.SHA256).Scan(&history))
	assert.Equal(t, 1, history, "B's proof does not decide the content again")

	// B came to own the content after creating the early upload: its
	// confirmation finishes it at once, with its one file.completed.
	fe, ids, err := confirm(s, ctx, "t2", early.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Done, fe.Status)
	done = payloads[contract.FileCompleted](t, pool, ids, contract.TopicFileCompleted)
	require.Len(t, done, 1, "an upload done at confirmation completes like any other")
	assert.Equal(t, early.ID, done[0].FileID)
	assert.Equal(t, contract.VerdictMalicious, done[0].Verdict)

	// Now B owns it: its next upload is skipped, and sizes must agree.
	again := newUpload("alice's confidential pdf", "again.pdf")
	again.Tenant = "t2"
	fa, err := s.CreateUpload(ctx, again)
	require.NoError(t, err)
	assert.Equal(t, files.Done, fa.Status)
	wrong := newUpload("alice's confidential pdf", "x.pdf")
	wrong.Tenant, wrong.Size = "t2", 3
	_, err = s.CreateUpload(ctx, wrong)
	assert.ErrorIs(t, err, files.ErrSizeConflict)
}

// TestPossessionRejectedBytes: bytes that fail verification reject their
// own upload only; the content and its owners are unaffected.
func TestPossessionRejectedBytes(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a := newUpload("verified content", "a.bin")
	settled(t, s, a, contract.Clean)

	c := newUpload("verified content", "c.bin")
	c.Tenant = "t3"
	_, err := s.CreateUpload(ctx, c)
	require.NoError(t, err)
	_, _, err = confirm(s, ctx, "t3", c.ID)
	require.NoError(t, err)
	ev := extracted(c)
	ev.Rejection = &contract.Rejection{Code: contract.RejectHashMismatch, Reason: "other bytes"}
	ids, err := recordExtraction(s, ctx, ev, policy)
	require.NoError(t, err)
	done := payloads[contract.FileCompleted](t, pool, ids, contract.TopicFileCompleted)
	require.Len(t, done, 1)
	assert.Equal(t, c.ID, done[0].FileID)
	fc, err := s.Get(ctx, "t3", c.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Rejected, fc.Status)
	assert.Empty(t, fc.MD5)
	fa, err := s.Get(ctx, "t1", a.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Done, fa.Status, "another tenant's bad bytes do not touch A's content")
	assert.Equal(t, contract.VerdictClean, fa.Verdict)
}

// TestPossessionWaitsForFirstScan: bytes confirmed while the same content is
// being scanned from another upload wait, then are verified once the verdict
// is settled, so that each content is scanned once; if the carrier's bytes
// fail, a waiting upload carries the content.
func TestPossessionWaitsForFirstScan(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a := newUpload("in flight", "a.bin")
	_, err := s.CreateUpload(ctx, a)
	require.NoError(t, err)
	_, ids, err := confirm(s, ctx, "t1", a.ID)
	require.NoError(t, err)
	require.Len(t, ids, 1)

	b := newUpload("in flight", "b.bin")
	b.Tenant = "t2"
	_, err = s.CreateUpload(ctx, b)
	require.NoError(t, err)
	_, ids, err = confirm(s, ctx, "t2", b.ID)
	require.NoError(t, err)
	assert.Empty(t, ids, "B's bytes wait: scanning them now would scan the content twice")

	t.Run("carrier rejected: the waiting upload carries the content", func(t *testing.T) {
		ev := extracted(a)
		ev.Rejection = &contract.Rejection{Code: contract.RejectHashMismatch, Reason: "other bytes"}
		ids, err := recordExtraction(s, ctx, ev, policy)
		require.NoError(t, err)
		up := payloads[contract.FileUploaded](t, pool, ids, contract.TopicFileUploaded)
		require.Len(t, up, 1)
		assert.Equal(t, b.ObjectKey, up[0].ObjectKey)
		fa, err := s.Get(ctx, "t1", a.ID)
		require.NoError(t, err)
		assert.Equal(t, files.Rejected, fa.Status)
		fb, err := s.Get(ctx, "t2", b.ID)
		require.NoError(t, err)
		assert.Equal(t, files.Processing, fb.Status)
	})

	// A uploads again, correct bytes this time, while B's carry the content.
	a2 := newUpload("in flight", "a2.bin")
	_, err = s.CreateUpload(ctx, a2)
	require.NoError(t, err)
	_, ids, err = confirm(s, ctx, "t1", a2.ID)
	require.NoError(t, err)
	assert.Empty(t, ids)

	_, err = recordExtraction(s, ctx, extracted(b), policy)
	require.NoError(t, err)
	var all []int64
	for _, e := range policy.Engines {
		ids, err := recordScan(s, ctx, withSHA(result(e, contract.Clean), b.SHA256), policy)
		require.NoError(t, err)
		all = append(all, ids...)
	}
	done := payloads[contract.FileCompleted](t, pool, all, contract.TopicFileCompleted)
	require.Len(t, done, 1)
	assert.Equal(t, b.ID, done[0].FileID, "only the tenant that proved possession finishes")
	up := payloads[contract.FileUploaded](t, pool, all, contract.TopicFileUploaded)
	require.Len(t, up, 1, "the waiting upload is verified once the verdict is settled")
	assert.Equal(t, a2.ObjectKey, up[0].ObjectKey)

	ids, err = recordExtraction(s, ctx, extracted(a2), policy)
	require.NoError(t, err)
	done = payloads[contract.FileCompleted](t, pool, ids, contract.TopicFileCompleted)
	require.Len(t, done, 1)
	assert.Equal(t, a2.ID, done[0].FileID)
	assert.Equal(t, contract.VerdictClean, done[0].Verdict)
}

// TestReconcilerProofs: an upload whose bytes were sent to be proven and
// never came back is asked again, and finally rejected alone; the content
// and its owner are untouched.
func TestReconcilerProofs(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	relay := &idRelay{}
	rec := &files.Reconciler{Store: s, StuckAfter: time.Minute, MaxRedrives: 1, Decider: policy, Relay: relay, Batch: 100}
	a := newUpload("proof lost", "a.bin")
	settled(t, s, a, contract.Clean)
	b := newUpload("proof lost", "b.bin")
	b.Tenant = "t2"
	_, err := s.CreateUpload(ctx, b)
	require.NoError(t, err)
	_, _, err = confirm(s, ctx, "t2", b.ID)
	require.NoError(t, err)
	age := func() {
		_, err := pool.Exec(ctx, `UPDATE uploads SET updated_at = now() - interval '1 hour' WHERE status = 'processing'`)
		require.NoError(t, err)
	}

	age()
	actions, err := rec.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"redrive_verify": 1}, actions)
	up := payloads[contract.FileUploaded](t, pool, relay.ids, contract.TopicFileUploaded)
	require.Len(t, up, 1)
	assert.Equal(t, b.ObjectKey, up[0].ObjectKey, "B's own bytes are asked for again, not the content's")

	age()
	actions, err = rec.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"finished_unscanned": 1}, actions)
	fb, err := s.Get(ctx, "t2", b.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Rejected, fb.Status)
	assert.Contains(t, fb.Reason, "extraction_timeout")
	fa, err := s.Get(ctx, "t1", a.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Done, fa.Status)
	assert.Equal(t, contract.VerdictClean, fa.Verdict)
}

// TestReconcilerPromotes: content whose carrying upload vanished (no
// dispatched upload left) is carried by a waiting upload's bytes.
func TestReconcilerPromotes(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	relay := &idRelay{}
	rec := &files.Reconciler{Store: s, StuckAfter: time.Minute, MaxRedrives: 3, Decider: policy, Relay: relay, Batch: 100}
	a := newUpload("carrier vanished", "a.bin")
	created(t, s, ctx, a)
	b := newUpload("carrier vanished", "b.bin")
	b.Tenant = "t2"
	_, err := s.CreateUpload(ctx, b)
	require.NoError(t, err)
	_, _, err = confirm(s, ctx, "t2", b.ID)
	require.NoError(t, err)
	// The carrier's upload is gone from processing (e.g. an operator failed it).
	_, err = pool.Exec(ctx, `UPDATE uploads SET status = 'rejected' WHERE id = $1`, a.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE uploads SET updated_at = now() - interval '1 hour'`)
	require.NoError(t, err)
	actions, err := rec.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"redrive_extract": 1}, actions)
	up := payloads[contract.FileUploaded](t, pool, relay.ids, contract.TopicFileUploaded)
	require.Len(t, up, 1)
	assert.Equal(t, b.ObjectKey, up[0].ObjectKey)
	ids, err := recordExtraction(s, ctx, extracted(b), policy)
	require.NoError(t, err)
	assert.Empty(t, ids, "engines have not reported")
	var state string
	require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM blobs WHERE sha256 = $1`, b.SHA256).Scan(&state))
	assert.Equal(t, files.BlobVerified, state)
}

// TestCreateWhileSettling: a tenant creates another upload of its own
// content while the verdict is being settled. The create decides under the
// content's lock, so it sees the settled verdict and is done at once;
// deciding from the read before the lock made it processing, with nothing
// left to finish it but the reconciler.
func TestCreateWhileSettling(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	a := newUpload("settling", "a.bin")
	created(t, s, ctx, a)
	_, err := recordExtraction(s, ctx, extracted(a), policy)
	require.NoError(t, err)

	// A settle in flight: it holds the content's lock and commits the
	// verdict after the create has read the content.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `UPDATE blobs SET verdict = 'clean' WHERE sha256 = $1`, a.SHA256)
	require.NoError(t, err)

	b := newUpload("settling", "b.bin")
	created := make(chan files.File, 1)
	go func() {
		f, err := s.CreateUpload(ctx, b)
		assert.NoError(t, err)
		created <- f
	}()
	deadline := time.Now().Add(30 * time.Second)
	for waiting := false; !waiting; {
		select {
		case f := <-created:
			t.Fatalf("the create did not wait for the settle in flight: %s, verdict %s", f.Status, f.Verdict)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the create never waited for the content's lock")
		require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting))
	}
	require.NoError(t, tx.Commit(ctx))
	f := <-created
	assert.Equal(t, files.Done, f.Status)
	assert.Equal(t, contract.VerdictClean, f.Verdict)
}
