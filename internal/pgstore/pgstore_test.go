package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/auth"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/testenv"
	"github.com/intellidox/intellidox/internal/verdict"
)

func newStore(t testing.TB) (*Store, *pgxpool.Pool) {
	t.Helper()
	sub, _ := fs.Sub(migrations, "migrations")
	url := testenv.Database(t, sub, Migrate)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return New(pool), pool
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func newUpload(content, name string) files.NewUpload {
	return files.NewUpload{ID: uuid.NewString(), Tenant: "t1", Name: name, Size: int64(len(content)),
		SHA256: hashOf(content), ObjectKey: "blobs/" + uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}
}

// extracted is the extractor's answer for u's own bytes.
func extracted(u files.NewUpload) contract.FileExtracted {
	return contract.FileExtracted{Version: 1, FileID: u.ID, SHA256: u.SHA256, Size: u.Size, ObjectKey: u.ObjectKey}
}

var policy = verdict.Policy{Engines: []string{"clamav", "yara"}}

func result(engine string, o contract.Outcome) contract.ScanCompleted {
	return contract.ScanCompleted{Version: 1, Result: contract.Result{Engine: engine, Result: o,
		Threats: []string{}, ScannedAt: time.Now().UTC().Truncate(time.Microsecond)}}
}

func outboxTopics(t *testing.T, pool *pgxpool.Pool, ids []int64) []string {
	t.Helper()
	var topics []string
	for _, id := range ids {
		var topic string
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT topic FROM outbox WHERE id = $1`, id).Scan(&topic))
		topics = append(topics, topic)
	}
	return topics
}

func TestLifecycle(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	u := newUpload("hello", "a.txt")
	f, err := s.CreateUpload(ctx, u)
	require.NoError(t, err)
	assert.Equal(t, files.AwaitingUpload, f.Status)
	assert.Equal(t, u.ObjectKey, f.ObjectKey)

	_, err = s.Get(ctx, "other-tenant", u.ID)
	assert.ErrorIs(t, err, files.ErrNotFound, "tenants see only their own uploads")

	f, ids, err := confirm(s, ctx, "t1", u.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Processing, f.Status)
	assert.Equal(t, []string{contract.TopicFileUploaded}, outboxTopics(t, pool, ids))

	_, ids, err = confirm(s, ctx, "t1", u.ID)
	require.NoError(t, err)
	assert.Empty(t, ids, "a second confirm queues nothing")

	// A second upload of the same content while the first is processing:
	// nothing is proven yet, so it brings its own bytes, which wait.
	u2 := newUpload("hello", "b.txt")
	f2, err := s.CreateUpload(ctx, u2)
	require.NoError(t, err)
	assert.Equal(t, files.AwaitingUpload, f2.Status)
	assert.Equal(t, u2.ObjectKey, f2.ObjectKey)
	_, ids, err = confirm(s, ctx, "t1", u2.ID)
	require.NoError(t, err)
	assert.Empty(t, ids, "content already being processed is not extracted twice")

	// A result before extraction is stored but settles nothing.
	ids, err = recordScan(s, ctx, withSHA(result("clamav", contract.Clean), u.SHA256), policy)
	require.NoError(t, err)
	assert.Empty(t, ids)
	ev := extracted(u)
	ev.MD5, ev.SHA1, ev.MIMEType = "m", "s", "text/plain"
	ev.Metadata = map[string]any{"type": map[string]any{"mime": "text/plain"}}
	ids, err = recordExtraction(s, ctx, ev, policy)
	require.NoError(t, err)
	assert.Empty(t, ids, "yara has not reported")
	ids, err = recordScan(s, ctx, withSHA(result("yara", contract.Malicious), u.SHA256), policy)
	require.NoError(t, err)
	assert.Equal(t, []string{contract.TopicFileCompleted, contract.TopicFileCompleted}, outboxTopics(t, pool, ids))

	for _, id := range []string{u.ID, u2.ID} {
		f, err := s.Get(ctx, "t1", id)
		require.NoError(t, err)
		assert.Equal(t, files.Done, f.Status)
		assert.Equal(t, contract.VerdictMalicious, f.Verdict)
		assert.Equal(t, "m", f.MD5)
		assert.JSONEq(t, `{"type":{"mime":"text/plain"},"findings":[]}`, string(f.Metadata))
	}

	// Known, verified content: no upload, done at once.
	u3 := newUpload("hello", "c.txt")
	f3, err := s.CreateUpload(ctx, u3)
	require.NoError(t, err)
	assert.Equal(t, files.Done, f3.Status)
	assert.Equal(t, contract.VerdictMalicious, f3.Verdict)
	// Its verdict is final at once, so it completes at once: file.completed
	// (tags, webhooks) is queued for it as for any other upload.
	var payload []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE topic = $1 AND payload->>'fileId' = $2`,
		contract.TopicFileCompleted, u3.ID).Scan(&payload), "no file.completed for an upload done at creation")
	var done contract.FileCompleted
	require.NoError(t, json.Unmarshal(payload, &done))
	assert.Equal(t, contract.VerdictMalicious, done.Verdict)
	assert.Equal(t, string(files.Done), done.Status)

	// A verified size cannot be contradicted.
	bad := newUpload("hello", "d.txt")
	bad.Size = 6
	_, err = s.CreateUpload(ctx, bad)
	assert.ErrorIs(t, err, files.ErrSizeConflict)

	// Redelivered results change nothing and queue nothing.
	ids, err = recordScan(s, ctx, withSHA(result("yara", contract.Malicious), u.SHA256), policy)
	require.NoError(t, err)
	assert.Empty(t, ids)
	var history int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM verdict_history WHERE sha256 = $1`, u.SHA256).Scan(&history))
	assert.Equal(t, 1, history)

	// A stale result does not overwrite a newer one.
	old := withSHA(result("yara", contract.Clean), u.SHA256)
	old.Result.ScannedAt = time.Now().Add(-time.Hour)
	_, err = recordScan(s, ctx, old, policy)
	require.NoError(t, err)
	rs, err := s.Results(ctx, u.SHA256)
	require.NoError(t, err)
	require.Len(t, rs, 2)
	assert.Equal(t, contract.Malicious, rs[1].Result)
}

func withSHA(ev contract.ScanCompleted, sha string) contract.ScanCompleted {
	ev.SHA256 = sha
	return ev
}

func TestRejection(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	u := newUpload("claimed", "x.bin")
	created(t, s, ctx, u)
	ev := extracted(u)
	ev.Rejection = &contract.Rejection{Code: contract.RejectHashMismatch, Reason: "stored bytes hash to x"}
	ids, err := recordExtraction(s, ctx, ev, policy)
	require.NoError(t, err)
	assert.Equal(t, []string{contract.TopicFileCompleted}, outboxTopics(t, pool, ids))
	f, err := s.Get(ctx, "t1", u.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Rejected, f.Status)
	assert.Equal(t, contract.VerdictUnscanned, f.Verdict)
	assert.Contains(t, f.Reason, "hash_mismatch")

	// The content may be uploaded again, correctly this time.
	again := newUpload("claimed", "x.bin")
	f2, err := s.CreateUpload(ctx, again)
	require.NoError(t, err)
	assert.Equal(t, files.AwaitingUpload, f2.Status)
	_, ids, err = confirm(s, ctx, "t1", again.ID)
	require.NoError(t, err)
	assert.Len(t, ids, 1, "a rejected content is extracted again")
}

// TestConcurrentResults delivers every engine's result at once, as several
// api replicas would: exactly one verdict, every upload finished once.
func TestConcurrentResults(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	engines := []string{"e1", "e2", "e3", "e4", "e5", "e6"}
	p := verdict.Policy{Engines: engines}
	u := newUpload("concurrent", "c.bin")
	created(t, s, ctx, u)
	_, err := recordExtraction(s, ctx, extracted(u), p)
	require.NoError(t, err)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []int64
	for i := 0; i < 3; i++ { // each result delivered three times
		for _, e := range engines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids, err := recordScan(s, ctx, withSHA(result(e, contract.Clean), u.SHA256), p)
				assert.NoError(t, err)
				mu.Lock()
				all = append(all, ids...)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	assert.Equal(t, []string{contract.TopicFileCompleted}, outboxTopics(t, pool, all))
	var history int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM verdict_history WHERE sha256 = $1`, u.SHA256).Scan(&history))
	assert.Equal(t, 1, history)
}

func TestList(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		u := newUpload(fmt.Sprint("content ", i), fmt.Sprintf("report-%d_final%%.pdf", i))
		_, err := s.CreateUpload(ctx, u)
		require.NoError(t, err)
		ids = append(ids, u.ID)
	}
	other := newUpload("content 0", "secret.pdf")
	other.Tenant = "t2"
	_, err := s.CreateUpload(ctx, other)
	require.NoError(t, err)

	var seen []string
	cursor := ""
	for {
		page, next, err := s.List(ctx, "t1", files.Query{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		for _, f := range page {
			seen = append(seen, f.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, seen, 5, "every file once, and none of another tenant's")
	assert.Equal(t, ids[4], seen[0], "newest first")

	byName, _, err := s.List(ctx, "t1", files.Query{Text: "3_final%", Limit: 10})
	require.NoError(t, err)
	require.Len(t, byName, 1, "% and _ match literally")
	assert.Equal(t, ids[3], byName[0].ID)

	byHash, _, err := s.List(ctx, "t1", files.Query{Text: hashOf("content 0"), Limit: 10})
	require.NoError(t, err)
	require.Len(t, byHash, 1)
	assert.Equal(t, ids[0], byHash[0].ID)

	exact, _, err := s.List(ctx, "t1", files.Query{SHA256: hashOf("content 1"), Limit: 10})
	require.NoError(t, err)
	require.Len(t, exact, 1)

	_, _, err = s.List(ctx, "t1", files.Query{Cursor: "garbage", Limit: 1})
	assert.ErrorIs(t, err, files.ErrBadCursor)
}

type recordingPublisher struct {
	mu     sync.Mutex
	topics []string
	fail   bool
}

func (p *recordingPublisher) Publish(_ context.Context, topic string, v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("sidecar down")
	}
	if _, ok := v.(json.RawMessage); !ok {
		return fmt.Errorf("payload is %T, want raw JSON", v)
	}
	p.topics = append(p.topics, topic)
	return nil
}

func (p *recordingPublisher) published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.topics...)
}

func TestOutbox(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := &recordingPublisher{fail: true}
	ob := NewOutbox(pool, pub, log)
	var mu sync.Mutex
	var local []string // what this replica's own streams were told, in order
	ob.Local = func(topic string, payload []byte) {
		var e contract.FileUploaded
		_ = json.Unmarshal(payload, &e)
		mu.Lock()
		local = append(local, topic+" "+e.FileID)
		mu.Unlock()
	}
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), local...) }

	u := newUpload("outbox", "o.txt")
	_, err := s.CreateUpload(ctx, u)
	require.NoError(t, err)
	_, ids, err := confirm(s, ctx, "t1", u.ID)
	require.NoError(t, err)
	ob.Relay(ctx, ids) // the sidecar is down: the row stays
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&left))
	assert.Equal(t, 1, left)
	// Local sees the committed row before the publish, so the failed
	// publish did not keep it from this replica's streams.
	assert.Equal(t, []string{contract.TopicFileUploaded + " " + u.ID}, seen())

	pub.mu.Lock()
	pub.fail = false
	pub.mu.Unlock()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go ob.Run(runCtx, 20*time.Millisecond, 0)
	require.Eventually(t, func() bool {
		var n int
		_ = pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
		return n == 0
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{contract.TopicFileUploaded}, pub.published())
	assert.Len(t, seen(), 2, "a row published again is seen again")
}

func TestDatabaseDown(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/x?connect_timeout=1", testenv.FreePort(t)))
	require.NoError(t, err)
	defer pool.Close()
	s := New(pool)
	_, err = s.Get(context.Background(), "t", uuid.NewString())
	var pe *problem.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, problem.Unavailable, pe.Kind)
	assert.Equal(t, "database_unavailable", pe.Code)
	_, err = s.CreateUpload(context.Background(), newUpload("x", "x"))
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "database_unavailable", pe.Code)
}

// TestDatabaseRefusesConnections: a server that answers but refuses the
// connection (here a database closed to connections, as during
// maintenance; on the k8s profile this is how the suite takes the
// database away) is unavailable too, not an internal error. pgx reports
// the server's FATAL inside a ConnectError.
func TestDatabaseRefusesConnections(t *testing.T) {
	ctx := context.Background()
	_, pool := newStore(t)
	var name string
	require.NoError(t, pool.QueryRow(ctx, `SELECT current_database()`).Scan(&name))
	pool.Close()
	admin, err := pgx.Connect(ctx, testenv.AdminURL())
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `ALTER DATABASE "`+name+`" WITH ALLOW_CONNECTIONS false`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(ctx, `ALTER DATABASE "`+name+`" WITH ALLOW_CONNECTIONS true`) })

	u, err := url.Parse(testenv.AdminURL())
	require.NoError(t, err)
	u.Path = "/" + name
	refused, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	defer refused.Close()
	s := New(refused)
	_, err = s.Get(ctx, "t", uuid.NewString())
	var pe *problem.Error
	require.ErrorAs(t, err, &pe, "%v", err)
	assert.Equal(t, problem.Unavailable, pe.Kind, "%v", err)
	assert.Equal(t, "database_unavailable", pe.Code)
}

func TestRescanStale(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	p := verdict.Policy{Engines: []string{"rep"}}
	var shas []string
	for i := 0; i < 3; i++ {
		u := newUpload(fmt.Sprint("stale ", i), "s.txt")
		created(t, s, ctx, u)
		_, err := recordExtraction(s, ctx, extracted(u), p)
		require.NoError(t, err)
		r := withSHA(result("rep", contract.Clean), u.SHA256)
		r.Result.SignatureVersion = "v1"
		if i == 2 {
			r.Result.ScannedAt = time.Now().Add(-48 * time.Hour) // outside the window
		}
		_, err = recordScan(s, ctx, r, p)
		require.NoError(t, err)
		shas = append(shas, u.SHA256)
	}
	ids, err := s.RescanStale(ctx, "rep", "v2", time.Now().Add(-24*time.Hour), 1)
	require.NoError(t, err)
	assert.Len(t, ids, 1, "batches are bounded")
	more, err := s.RescanStale(ctx, "rep", "v2", time.Now().Add(-24*time.Hour), 10)
	require.NoError(t, err)
	assert.Len(t, more, 1, "the next batch takes the rest of the window")
	again, err := s.RescanStale(ctx, "rep", "v2", time.Now().Add(-24*time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, again, "a redelivered update queues nothing new")
	none, err := s.RescanStale(ctx, "rep", "v1", time.Now().Add(-24*time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, none, "content already scanned with these signatures is not rescanned")

	var payload []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE id = $1`, ids[0]).Scan(&payload))
	var ev contract.FileExtracted
	require.NoError(t, json.Unmarshal(payload, &ev))
	assert.Equal(t, []string{"rep"}, ev.Engines)
	assert.Contains(t, shas[:2], ev.SHA256)
}

func TestAPIKeys(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	k, secret, err := s.CreateKey(ctx, "acme", "ci", false)
	require.NoError(t, err)
	got, err := s.LookupKey(ctx, auth.HashKey(secret))
	require.NoError(t, err)
	assert.Equal(t, "acme", got.Tenant)
	assert.Equal(t, k.ID, got.ID)

	var stored int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE hash = $1 OR hash = $2 OR name = $2`,
		secret, secret).Scan(&stored))
	assert.Zero(t, stored, "the secret itself is never stored")

	ok, err := s.RevokeKey(ctx, k.ID)
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = s.LookupKey(ctx, auth.HashKey(secret))
	assert.ErrorIs(t, err, auth.ErrUnknownKey)
	ok, err = s.RevokeKey(ctx, k.ID)
	require.NoError(t, err)
	assert.False(t, ok, "revoking twice reports nothing revoked")

	_, _, err = s.CreateKey(ctx, "bad tenant!", "x", false)
	assert.Error(t, err)
	require.NoError(t, s.EnsureKey(ctx, "default", "bootstrap", "idx_boot", true))
	require.NoError(t, s.EnsureKey(ctx, "default", "bootstrap", "idx_boot", true))
	keys, err := s.ListKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, keys, 2)
}

type idRelay struct {
	mu  sync.Mutex
	ids []int64
}

func (r *idRelay) Relay(_ context.Context, ids []int64) {
	r.mu.Lock()
	r.ids = append(r.ids, ids...)
	r.mu.Unlock()
}

func TestReconciler(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	p := verdict.Policy{Engines: []string{"a", "b"}}
	relay := &idRelay{}
	rec := &files.Reconciler{Store: s, StuckAfter: time.Minute, MaxRedrives: 2, Decider: p, Relay: relay, Batch: 100}
	confirmed := func(content string) files.NewUpload {
		u := newUpload(content, content+".bin")
		created(t, s, ctx, u)
		return u
	}
	age := func() {
		_, err := pool.Exec(ctx, `UPDATE uploads SET updated_at = now() - interval '1 hour'`)
		require.NoError(t, err)
	}
	lost := confirmed("extraction lost")
	half := confirmed("one engine lost")
	_, err := recordExtraction(s, ctx, extracted(half), p)
	require.NoError(t, err)
	_, err = recordScan(s, ctx, withSHA(result("a", contract.Clean), half.SHA256), p)
	require.NoError(t, err)
	fresh := confirmed("just confirmed") // not stuck yet

	age()
	_, err = pool.Exec(ctx, `UPDATE uploads SET updated_at = now() WHERE id = $1`, fresh.ID)
	require.NoError(t, err)
	actions, err := rec.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"redrive_extract": 1, "redrive_scan": 1}, actions)
	topics := outboxTopics(t, pool, relay.ids)
	assert.ElementsMatch(t, []string{contract.TopicFileUploaded, contract.TopicFileExtracted}, topics)
	var payload []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE topic = $1`, contract.TopicFileExtracted).Scan(&payload))
	var rescan contract.FileExtracted
	require.NoError(t, json.Unmarshal(payload, &rescan))
	assert.Equal(t, []string{"b"}, rescan.Engines, "only the engine that never reported is asked again")

	actions, err = rec.Reconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, actions, "re-driven uploads wait StuckAfter again")

	// Still nothing after the last re-drive: finish them.
	for i := 0; i < 2; i++ {
		age()
		_, err = rec.Reconcile(ctx)
		require.NoError(t, err)
	}
	f, err := s.Get(ctx, "t1", half.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Done, f.Status)
	assert.Equal(t, contract.VerdictUnscanned, f.Verdict, "a missing engine is not a clean bill")
	assert.Contains(t, f.Reason, "b")
	f, err = s.Get(ctx, "t1", lost.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Rejected, f.Status)
	assert.Contains(t, f.Reason, "extraction_timeout")
	f, err = s.Get(ctx, "t1", fresh.ID)
	require.NoError(t, err)
	assert.Equal(t, files.Processing, f.Status, "every pass left the fresh upload alone until it aged")
}

func TestReconcilerReplicas(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	p := verdict.Policy{Engines: []string{"a"}}
	for i := 0; i < 20; i++ {
		u := newUpload(fmt.Sprint("replica ", i), "r.bin")
		created(t, s, ctx, u)
	}
	_, err := pool.Exec(ctx, `UPDATE uploads SET updated_at = now() - interval '1 hour'`)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := &files.Reconciler{Store: s, StuckAfter: time.Minute, MaxRedrives: 5, Decider: p, Relay: &idRelay{}, Batch: 7}
			for {
				a, err := rec.Reconcile(ctx)
				assert.NoError(t, err)
				if len(a) == 0 {
					return
				}
				mu.Lock()
				total += a["redrive_extract"]
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 20, total, "each stuck upload re-driven exactly once across replicas")
}

func TestDeadLetters(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.SaveDeadLetter(ctx, "file.uploaded", "ev1", json.RawMessage(`{"version":99}`)))
	require.NoError(t, s.SaveDeadLetter(ctx, "file.uploaded", "ev1", json.RawMessage(`{"version":99}`)))
	require.NoError(t, s.SaveDeadLetter(ctx, "scan.completed", "ev2", json.RawMessage(`not json`)))
	n, err := s.PendingDeadLetters(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "a redelivered dead letter is kept once")
	list, err := s.DeadLetters(ctx, false, 10)
	require.NoError(t, err)
	require.Len(t, list, 2)
	first := list[1]
	assert.Equal(t, "file.uploaded", first.Topic)

	ids, err := s.Redrive(ctx, first.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"file.uploaded"}, outboxTopics(t, pool, ids))
	_, err = s.Redrive(ctx, first.ID)
	assert.ErrorIs(t, err, files.ErrNotFound, "a message is re-driven once")
	n, err = s.PendingDeadLetters(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
