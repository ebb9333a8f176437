package webhooks_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/examples/webhook-receiver/receiver"
	"github.com/intellidox/intellidox/internal/pgstore"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/testenv"
	"github.com/intellidox/intellidox/internal/webhooks"
)

// env is a real PostgreSQL database (a fresh clone of the migrated
// template), its store, and a service whose wake-ups reach whichever
// dispatchers the test runs.
type env struct {
	t     *testing.T
	url   string
	store *pgstore.Store
	guard *webhooks.Guard
	svc   *webhooks.Service
	mu    sync.Mutex
	disps []*webhooks.Dispatcher
}

var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func newEnv(t *testing.T, guard *webhooks.Guard) *env {
	t.Helper()
	e := &env{t: t, url: testenv.Database(t, pgstore.Migrations(), pgstore.Migrate), guard: guard}
	e.store = e.newStore()
	e.svc = webhooks.NewService(e.store, guard, 0, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, d := range e.disps {
			d.Wake()
		}
	})
	return e
}

func (e *env) newStore() *pgstore.Store {
	pool, err := pgxpool.New(context.Background(), e.url)
	require.NoError(e.t, err)
	e.t.Cleanup(pool.Close)
	return pgstore.New(pool)
}

func quietLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// start runs a dispatcher (on its own pool, as another replica would) until
// the returned stop is called or the test ends.
func (e *env) start(cfg webhooks.DispatchConfig) (stop func()) {
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	d := webhooks.NewDispatcher(e.newStore(), e.guard, quietLog(e.t), cfg)
	e.mu.Lock()
	e.disps = append(e.disps, d)
	e.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			e.mu.Lock()
			e.disps = slices.DeleteFunc(e.disps, func(x *webhooks.Dispatcher) bool { return x == d })
			e.mu.Unlock()
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) subscribe(tenant, url string, events ...string) webhooks.Subscription {
	e.t.Helper()
	if len(events) == 0 {
		events = []string{webhooks.EventFileCompleted}
	}
	s, err := e.svc.Create(context.Background(), tenant, webhooks.CreateRequest{URL: url, Events: events})
	require.NoError(e.t, err)
	require.NotEmpty(e.t, s.Secret)
	return s
}

func event(tenant string) webhooks.Event {
	id := uuid.NewString()
	h := sha256.Sum256([]byte(id))
	return webhooks.Event{Type: webhooks.EventFileCompleted, Tenant: tenant, FileID: id, SHA256: hex.EncodeToString(h[:]),
		Status: "done", Verdict: "malicious", Version: 1, ScannedAt: time.Now().UTC(), Signatures: []string{"Eicar-Test-Signature"}}
}

func (e *env) deliveries(tenant, sub string) []webhooks.Delivery {
	e.t.Helper()
	ds, err := e.svc.Deliveries(context.Background(), tenant, sub)
	require.NoError(e.t, err)
	return ds
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hit is one request a recorder received.
type hit struct {
	ID      string
	Valid   bool // signature verified by the example receiver's Verify
	Body    string
	Status  int
	At      time.Time
	Payload receiver.Event
}

// recorder is a receiver that verifies and records every request, and
// answers as respond says (given the webhook-id and its attempt number).
type recorder struct {
	mu      sync.Mutex
	secret  string
	hits    []hit
	respond func(id string, attempt int) int
	srv     *httptest.Server
}

func newRecorder(t *testing.T, respond func(id string, attempt int) int) *recorder {
	r := &recorder{respond: respond}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	attempt := 1
	for _, h := range r.hits {
		if h.ID == id {
			attempt++
		}
	}
	status := http.StatusOK
	if r.respond != nil {
		status = r.respond(id, attempt)
	}
	h := hit{ID: id, Valid: receiver.Verify(r.secret, req.Header, body, time.Now()) == nil, Body: string(body),
		Status: status, At: time.Now()}
	_ = json.Unmarshal(body, &h.Payload)
	r.hits = append(r.hits, h)
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *recorder) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hits)
}

// accepted counts 2xx answers per webhook-id.
func (r *recorder) accepted() map[string]int {
	out := map[string]int{}
	for _, h := range r.all() {
		if h.Status >= 200 && h.Status < 300 {
			out[h.ID]++
		}
	}
	return out
}

func fast(n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = 20 * time.Millisecond
	}
	return s
}

// TestRetriesUntilAcceptedExactlyOnce: a receiver answering 500 to the
// first three attempts of every delivery, then 200, gets exactly one
// accepted delivery per event, every attempt signed validly, the same
// webhook-id and body on each retry. The schedule is compressed to 20 ms.
func TestRetriesUntilAcceptedExactlyOnce(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	rec := newRecorder(t, func(_ string, attempt int) int {
		if attempt <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	sub := e.subscribe("t1", rec.srv.URL+"/hook")
	rec.secret = sub.Secret
	e.start(webhooks.DispatchConfig{Schedule: fast(7)})

	const n = 5
	ctx := context.Background()
	for range n {
		ev := event("t1")
		require.NoError(t, e.svc.Enqueue(ctx, ev))
		require.NoError(t, e.svc.Enqueue(ctx, ev), "a redelivered event is one delivery")
	}
	waitFor(t, 30*time.Second, "every delivery delivered", func() bool {
		ds := e.deliveries("t1", sub.ID)
		return len(ds) == n && !slices.ContainsFunc(ds, func(d webhooks.Delivery) bool { return d.Status != webhooks.StatusDelivered })
	})
	acc := rec.accepted()
	assert.Len(t, acc, n)
	for id, k := range acc {
		assert.Equal(t, 1, k, "accepted once: %s", id)
	}
	bodies := map[string]string{}
	for _, h := range rec.all() {
		assert.True(t, h.Valid, "attempt of %s has a valid signature", h.ID)
		if b, ok := bodies[h.ID]; ok {
			assert.Equal(t, b, h.Body, "a retry sends the same body")
		}
		bodies[h.ID] = h.Body
		assert.Equal(t, "file.completed", h.Payload.Type)
		assert.Equal(t, "malicious", h.Payload.Data.Verdict)
	}
	assert.Len(t, rec.all(), 4*n, "three refusals and one acceptance per event")
	for _, d := range e.deliveries("t1", sub.ID) {
		assert.Equal(t, 4, d.Attempts)
		require.NotNil(t, d.LastStatus)
		assert.Equal(t, 200, *d.LastStatus)
		assert.Empty(t, d.LastError)
		assert.NotNil(t, d.LatencyMs)
		assert.NotNil(t, d.DeliveredAt)
		assert.Nil(t, d.NextAttemptAt)
	}
}

// TestBrokenSignatureIsRejected is the receiver's mutation check: with the
// wrong secret, or a byte of the body changed, the example receiver
// refuses what IntelliDox sent.
func TestBrokenSignatureIsRejected(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	rec := newRecorder(t, nil)
	sub := e.subscribe("t1", rec.srv.URL)
	rec.secret = webhooks.NewSecret() // not the subscription's
	e.start(webhooks.DispatchConfig{})
	require.NoError(t, e.svc.Enqueue(context.Background(), event("t1")))
	waitFor(t, 10*time.Second, "a request", func() bool { return len(rec.all()) > 0 })
	h := rec.all()[0]
	assert.False(t, h.Valid, "a signature under another secret must not verify")

	hdr := http.Header{}
	now := time.Now()
	sig, err := webhooks.Sign(sub.Secret, h.ID, now.Unix(), []byte(h.Body))
	require.NoError(t, err)
	hdr.Set("webhook-id", h.ID)
	hdr.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	hdr.Set("webhook-signature", sig)
	require.NoError(t, receiver.Verify(sub.Secret, hdr, []byte(h.Body), now))
	tampered := []byte(h.Body)
	tampered[len(tampered)-2] ^= 1
	assert.Error(t, receiver.Verify(sub.Secret, hdr, tampered, now), "a changed body")
	assert.Error(t, receiver.Verify(sub.Secret, hdr, []byte(h.Body), now.Add(10*time.Minute)), "a replay after the tolerance")
	hdr.Set("webhook-id", "msg_other")
	assert.Error(t, receiver.Verify(sub.Secret, hdr, []byte(h.Body), now), "another id")
}

// TestReceiverDownThenBack: while the receiver's address refuses
// connections, attempts fail and are retried; once it listens again it
// gets every event. The schedule is compressed (50 ms doubling, capped at
// 1 s, twelve retries) where production waits hours.
func TestReceiverDownThenBack(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // down: connections are refused
	sub := e.subscribe("t1", "http://"+addr+"/hook")
	schedule := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	for range 8 {
		schedule = append(schedule, time.Second)
	}
	e.start(webhooks.DispatchConfig{Schedule: schedule})
	const n = 6
	for range n {
		require.NoError(t, e.svc.Enqueue(context.Background(), event("t1")))
	}
	waitFor(t, 30*time.Second, "every delivery failed twice while the receiver is down", func() bool {
		ds := e.deliveries("t1", sub.ID)
		return len(ds) == n && !slices.ContainsFunc(ds, func(d webhooks.Delivery) bool {
			return d.Attempts < 2 || d.Status != webhooks.StatusPending
		})
	})
	for _, d := range e.deliveries("t1", sub.ID) {
		assert.Equal(t, "connection refused", d.LastError)
		assert.Nil(t, d.LastStatus)
		assert.NotNil(t, d.NextAttemptAt)
	}

	rec := &recorder{secret: sub.Secret}
	l, err = net.Listen("tcp", addr) // back, on the same address
	require.NoError(t, err)
	srv := &http.Server{Handler: rec}
	go srv.Serve(l) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	waitFor(t, 30*time.Second, "every event delivered after the receiver came back", func() bool {
		ds := e.deliveries("t1", sub.ID)
		return !slices.ContainsFunc(ds, func(d webhooks.Delivery) bool { return d.Status != webhooks.StatusDelivered })
	})
	assert.Len(t, rec.accepted(), n)
	for _, h := range rec.all() {
		assert.True(t, h.Valid)
	}
	for _, d := range e.deliveries("t1", sub.ID) {
		assert.Equal(t, webhooks.StatusDelivered, d.Status)
	}
}

// TestDeadLetterAndRedrive: with no retries left a delivery fails (the
// dead-letter store); redrive queues it again with the same webhook-id.
func TestDeadLetterAndRedrive(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	var up atomic.Bool
	rec := newRecorder(t, func(string, int) int {
		if up.Load() {
			return http.StatusNoContent
		}
		return http.StatusServiceUnavailable
	})
	sub := e.subscribe("t1", rec.srv.URL)
	rec.secret = sub.Secret
	e.start(webhooks.DispatchConfig{Schedule: fast(2)})
	require.NoError(t, e.svc.Enqueue(context.Background(), event("t1")))
	var d webhooks.Delivery
	waitFor(t, 10*time.Second, "the delivery fails for good", func() bool {
		ds := e.deliveries("t1", sub.ID)
		if len(ds) == 1 {
			d = ds[0]
		}
		return d.Status == webhooks.StatusFailed
	})
	assert.Equal(t, 3, d.Attempts)
	assert.Equal(t, "HTTP 503", d.LastError)
	assert.Nil(t, d.NextAttemptAt)

	ctx := context.Background()
	err := e.svc.Redrive(ctx, "t2", sub.ID, d.ID)
	assert.ErrorIs(t, err, webhooks.ErrDeliveryNotFound, "another tenant learns nothing")
	assert.ErrorIs(t, e.svc.Redrive(ctx, "t1", sub.ID, "nope"), webhooks.ErrDeliveryNotFound)
	up.Store(true)
	require.NoError(t, e.svc.Redrive(ctx, "t1", sub.ID, d.ID))
	waitFor(t, 10*time.Second, "the redriven delivery is delivered", func() bool {
		return e.deliveries("t1", sub.ID)[0].Status == webhooks.StatusDelivered
	})
	assert.Equal(t, map[string]int{d.ID: 1}, rec.accepted(), "the same webhook-id")
	var pe *problem.Error
	require.ErrorAs(t, e.svc.Redrive(ctx, "t1", sub.ID, d.ID), &pe)
	assert.Equal(t, "delivery_not_failed", pe.Code)
}

// TestRestartSurvival: deliveries live in PostgreSQL. A dispatcher that
// stops leaves pending retries that a new one sends; a claim left by a
// dispatcher that died mid-attempt expires and is taken over. Instead of
// waiting for the hour-long retry delay and lease, the test moves them into
// the past in the database.
func TestRestartSurvival(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	var up atomic.Bool
	rec := newRecorder(t, func(string, int) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	sub := e.subscribe("t1", rec.srv.URL)
	rec.secret = sub.Secret
	hour := webhooks.DispatchConfig{Schedule: []time.Duration{time.Hour, time.Hour}}
	stop := e.start(hour)
	const n = 4
	for range n {
		require.NoError(t, e.svc.Enqueue(context.Background(), event("t1")))
	}
	waitFor(t, 10*time.Second, "each delivery attempted once", func() bool {
		ds := e.deliveries("t1", sub.ID)
		return len(ds) == n && !slices.ContainsFunc(ds, func(d webhooks.Delivery) bool { return d.Attempts < 1 || d.LastStatus == nil })
	})
	stop()
	up.Store(true)

	// A replica that claimed one more delivery and died: its claim is
	// never finished.
	require.NoError(t, e.svc.Enqueue(context.Background(), event("t1")))
	claimed, err := e.store.ClaimDeliveries(context.Background(), 10, 10, time.Hour)
	require.NoError(t, err)
	require.Len(t, claimed, 1, "only the new delivery is due; the others wait an hour")

	pool, err := pgxpool.New(context.Background(), e.url)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(context.Background(), `UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 second',
		claimed_until = CASE WHEN claimed_until IS NOT NULL THEN now() - interval '1 second' END`)
	require.NoError(t, err, "an hour passes")

	e.start(hour)
	waitFor(t, 15*time.Second, "the new dispatcher delivers everything", func() bool {
		ds := e.deliveries("t1", sub.ID)
		return !slices.ContainsFunc(ds, func(d webhooks.Delivery) bool { return d.Status != webhooks.StatusDelivered })
	})
	assert.Len(t, rec.accepted(), n+1)
	for id, k := range rec.accepted() {
		assert.Equal(t, 1, k, id)
	}
	for _, d := range e.deliveries("t1", sub.ID) {
		assert.Equal(t, webhooks.StatusDelivered, d.Status)
		assert.Equal(t, 2, d.Attempts, "a failed attempt (or the dead replica's) and the accepted one")
	}
}

// TestReplicasDoNotDoubleSend: three dispatchers on one queue send each of
// 90 deliveries exactly once.
func TestReplicasDoNotDoubleSend(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	rec := newRecorder(t, nil)
	subs := []webhooks.Subscription{e.subscribe("t1", rec.srv.URL+"/a"), e.subscribe("t1", rec.srv.URL+"/b"),
		e.subscribe("t1", rec.srv.URL+"/c")}
	for range 3 {
		e.start(webhooks.DispatchConfig{Workers: 4})
	}
	for range 30 {
		require.NoError(t, e.svc.Enqueue(context.Background(), event("t1")))
	}
	waitFor(t, 30*time.Second, "90 deliveries", func() bool {
		for _, s := range subs {
			ds := e.deliveries("t1", s.ID)
			if len(ds) != 30 || slices.ContainsFunc(ds, func(d webhooks.Delivery) bool { return d.Status != webhooks.StatusDelivered }) {
				return false
			}
		}
		return true
	})
	assert.Len(t, rec.all(), 90, "no delivery sent twice")
	for _, s := range subs {
		for _, d := range e.deliveries("t1", s.ID) {
			assert.Equal(t, 1, d.Attempts)
		}
	}
}

// TestHangingReceiverDoesNotDelayOthers measures tenant B's delivery
// latency (enqueue → its receiver has the request) with and without
// tenant A's receiver hanging on every request. A holds at most
// PerSubscription workers; B's deliveries all land while A's first
// attempts are still hanging, well inside the attempt timeout.
func TestHangingReceiverDoesNotDelayOthers(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	release := make(chan struct{})
	var hanging, maxHanging atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hanging.Add(1)
		defer hanging.Add(-1)
		for {
			m := maxHanging.Load()
			if n <= m || maxHanging.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	rec := newRecorder(t, nil)
	subB := e.subscribe("tenant-b", rec.srv.URL)
	rec.secret = subB.Secret
	const timeout = 10 * time.Second
	e.start(webhooks.DispatchConfig{Workers: 8, PerSubscription: 2, Timeout: timeout})

	measure := func(n int) []time.Duration {
		var lat []time.Duration
		for range n {
			ev := event("tenant-b")
			before := len(rec.accepted())
			start := time.Now()
			require.NoError(t, e.svc.Enqueue(context.Background(), ev))
			waitFor(t, timeout, "B's delivery", func() bool { return len(rec.accepted()) > before })
			hits := rec.all()
			lat = append(lat, hits[len(hits)-1].At.Sub(start))
		}
		return lat
	}
	measure(5) // warm-up: connections, the first claims
	baseline := measure(40)

	subA := e.subscribe("tenant-a", hang.URL)
	for range 20 {
		require.NoError(t, e.svc.Enqueue(context.Background(), event("tenant-a")))
	}
	waitFor(t, 5*time.Second, "A's receiver holds requests", func() bool { return hanging.Load() == 2 })
	hangStart := time.Now()
	withHang := measure(40)
	elapsed := time.Since(hangStart)

	p := func(l []time.Duration, q float64) time.Duration {
		s := slices.Clone(l)
		slices.Sort(s)
		return s[int(q*float64(len(s)-1))]
	}
	t.Logf("tenant B delivery latency, 40 deliveries each: without a hanging receiver p50 %v p99 %v max %v; "+
		"with tenant A's receiver hanging (2 requests held, 18 queued) p50 %v p99 %v max %v",
		p(baseline, .5), p(baseline, .99), p(baseline, 1), p(withHang, .5), p(withHang, .99), p(withHang, 1))

	assert.LessOrEqual(t, maxHanging.Load(), int32(2), "A never holds more than PerSubscription workers")
	assert.Less(t, elapsed, timeout, "B's 40 deliveries all landed while A's first attempts still hung")
	for _, d := range e.deliveries("tenant-a", subA.ID) {
		assert.NotEqual(t, webhooks.StatusDelivered, d.Status)
	}
}

// TestHangingReceiverWithoutPerSubscriptionLimit is the broken variant of
// the test above: when one subscription may take every worker, its hanging
// receiver does delay another tenant's delivery until its attempts time
// out. The limit, not luck, is what keeps tenants apart.
func TestHangingReceiverWithoutPerSubscriptionLimit(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	release := make(chan struct{})
	var hanging atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hanging.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	rec := newRecorder(t, nil)
	subB := e.subscribe("tenant-b", rec.srv.URL)
	rec.secret = subB.Secret
	e.subscribe("tenant-a", hang.URL)
	const timeout = time.Second
	e.start(webhooks.DispatchConfig{Workers: 4, PerSubscription: 4, Timeout: timeout}) // broken: no per-subscription bound
	for range 10 {
		require.NoError(t, e.svc.Enqueue(context.Background(), event("tenant-a")))
	}
	waitFor(t, 5*time.Second, "A's receiver holds every worker", func() bool { return hanging.Load() == 4 })
	start := time.Now()
	require.NoError(t, e.svc.Enqueue(context.Background(), event("tenant-b")))
	waitFor(t, 30*time.Second, "B's delivery", func() bool { return len(rec.accepted()) == 1 })
	took := time.Since(start)
	t.Logf("tenant B's delivery with every worker held by tenant A: %v", took)
	assert.Greater(t, took, timeout/2, "without the limit, B waits for A's attempts to time out")
}

// TestTenantsAndValidation: another tenant's ids answer exactly like
// unknown ones; requests are validated; the per-tenant limit holds.
func TestTenantsAndValidation(t *testing.T) {
	e := newEnv(t, &webhooks.Guard{Allow: loopbackOnly})
	ctx := context.Background()
	s := e.subscribe("t1", "http://127.0.0.1:1/x", webhooks.EventVerdictChanged, webhooks.EventFileCompleted, webhooks.EventFileCompleted)
	assert.Equal(t, []string{webhooks.EventFileCompleted, webhooks.EventVerdictChanged}, s.Events)
	got, err := e.svc.Get(ctx, "t1", s.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Secret, "the secret is shown once")
	for _, err := range []error{
		func() error { _, err := e.svc.Get(ctx, "t2", s.ID); return err }(),
		func() error { _, err := e.svc.Deliveries(ctx, "t2", s.ID); return err }(),
		e.svc.Delete(ctx, "t2", s.ID),
		e.svc.Redrive(ctx, "t2", s.ID, "x"),
	} {
		var pe *problem.Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, problem.NotFound, pe.Kind)
		assert.Equal(t, "not_found", pe.Code)
	}
	_, unknown := e.svc.Get(ctx, "t1", uuid.NewString())
	_, foreign := e.svc.Get(ctx, "t2", s.ID)
	assert.Equal(t, unknown.Error(), foreign.Error(), "the same answer")
	list, err := e.svc.List(ctx, "t2")
	require.NoError(t, err)
	assert.Empty(t, list)

	for _, c := range []struct {
		req  webhooks.CreateRequest
		code string
	}{
		{webhooks.CreateRequest{Events: []string{"file.completed"}}, "invalid_url"},
		{webhooks.CreateRequest{URL: "ftp://127.0.0.1/", Events: []string{"file.completed"}}, "invalid_url"},
		{webhooks.CreateRequest{URL: "http://127.0.0.1/" + string(make([]byte, 3000)), Events: []string{"file.completed"}}, "invalid_url"},
		{webhooks.CreateRequest{URL: "http://127.0.0.1/"}, "invalid_events"},
		{webhooks.CreateRequest{URL: "http://127.0.0.1/", Events: []string{"file.deleted"}}, "invalid_events"},
		{webhooks.CreateRequest{URL: "http://127.0.0.1/", Events: []string{"file.completed"}, Description: "a\nb"}, "invalid_description"},
	} {
		_, err := e.svc.Create(ctx, "t1", c.req)
		var pe *problem.Error
		require.ErrorAs(t, err, &pe, c.code)
		assert.Equal(t, c.code, pe.Code)
		assert.Equal(t, problem.Invalid, pe.Kind)
	}

	small := webhooks.NewService(e.store, e.guard, 2, nil)
	_, err = small.Create(ctx, "t1", webhooks.CreateRequest{URL: "http://127.0.0.1/2", Events: []string{"file.rejected"}})
	require.NoError(t, err)
	_, err = small.Create(ctx, "t1", webhooks.CreateRequest{URL: "http://127.0.0.1/3", Events: []string{"file.rejected"}})
	assert.ErrorIs(t, err, webhooks.ErrLimit)
	require.NoError(t, e.svc.Delete(ctx, "t1", s.ID))
	_, err = e.svc.Get(ctx, "t1", s.ID)
	assert.ErrorIs(t, err, webhooks.ErrNotFound)
}

// TestHostileURLsRefused: the addresses of the issue are refused at
// creation with webhook_url_forbidden, after DNS resolution for a name.
func TestHostileURLsRefused(t *testing.T) {
	dns := startDNS(t, map[string][]netip.Addr{"intranet.example.test.": {netip.MustParseAddr("10.20.30.40")}})
	e := newEnv(t, &webhooks.Guard{Resolver: dns.resolver()})
	for _, u := range []string{"http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://169.254.169.254/latest/meta-data/",
		"https://intranet.example.test/hook", "http://localhost/"} {
		_, err := e.svc.Create(context.Background(), "t1", webhooks.CreateRequest{URL: u, Events: []string{"file.completed"}})
		var pe *problem.Error
		if assert.ErrorAs(t, err, &pe, u) {
			assert.Equal(t, problem.Unprocessable, pe.Kind, u)
			assert.Contains(t, []string{"webhook_url_forbidden", "webhook_url_unresolvable"}, pe.Code, u)
			assert.Equal(t, "url", pe.Field)
			t.Logf("%s → %s: %s", u, pe.Code, pe.Detail)
		}
	}
	list, err := e.svc.List(context.Background(), "t1")
	require.NoError(t, err)
	assert.Empty(t, list)
}

// TestDeliveryTimeSSRF: what creation cannot see, the dialer does. A
// receiver that redirects to another loopback address, and a name that
// resolves to a public address at creation and to loopback at delivery
// (DNS rebinding), reach nothing. Each has its broken variant: with the
// allow-list widened to all of 127/8, the same setup does reach the
// hostile server, so the test can tell.
func TestDeliveryTimeSSRF(t *testing.T) {
	// hostile listens on 127.0.0.2, outside the allow-list 127.0.0.1/32.
	hostile := func(t *testing.T) (string, *atomic.Int32) {
		var n atomic.Int32
		l, err := net.Listen("tcp", "127.0.0.2:0")
		require.NoError(t, err)
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) })}
		go srv.Serve(l) //nolint:errcheck
		t.Cleanup(func() { srv.Close() })
		return l.Addr().String(), &n
	}
	// settle runs one delivery to url with no retries and returns it.
	settle := func(t *testing.T, guard *webhooks.Guard, url string) webhooks.Delivery {
		e := newEnv(t, guard)
		sub := e.subscribe("t1", url)
		e.start(webhooks.DispatchConfig{Schedule: []time.Duration{}})
		require.NoError(t, e.svc.Enqueue(context.Background(), event("t1")))
		var d webhooks.Delivery
		waitFor(t, 15*time.Second, "the delivery settles", func() bool {
			ds := e.deliveries("t1", sub.ID)
			if len(ds) == 1 {
				d = ds[0]
			}
			return d.Status == webhooks.StatusFailed || d.Status == webhooks.StatusDelivered
		})
		return d
	}
	allLoopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

	for _, broken := range []bool{false, true} {
		name := map[bool]string{false: "guarded", true: "broken: all loopback allowed"}[broken]
		t.Run("redirect to loopback/"+name, func(t *testing.T) {
			addr, hits := hostile(t)
			redirector := httptest.NewServer(http.RedirectHandler("http://"+addr+"/internal", http.StatusTemporaryRedirect))
			t.Cleanup(redirector.Close)
			guard := &webhooks.Guard{Allow: loopbackOnly}
			if broken {
				guard.Allow = allLoopback
			}
			d := settle(t, guard, redirector.URL)
			if broken {
				assert.Equal(t, int32(1), hits.Load(), "without the guard the redirect reaches the hostile server")
				return
			}
			assert.Zero(t, hits.Load(), "the redirect target was never reached")
			assert.Equal(t, webhooks.StatusFailed, d.Status)
			assert.Equal(t, "refused: the address is loopback", d.LastError)
		})
		t.Run("dns rebinding/"+name, func(t *testing.T) {
			addr, hits := hostile(t)
			_, port, _ := net.SplitHostPort(addr)
			dns := startDNS(t, map[string][]netip.Addr{"rebind.example.test.": {
				netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("127.0.0.2")}})
			guard := &webhooks.Guard{Allow: loopbackOnly, Resolver: dns.resolver()}
			if broken {
				guard.Allow = allLoopback
			}
			d := settle(t, guard, "http://rebind.example.test:"+port+"/hook")
			if broken {
				assert.Equal(t, int32(1), hits.Load(), "without the guard the rebound name reaches the hostile server")
				return
			}
			assert.Zero(t, hits.Load())
			assert.Equal(t, webhooks.StatusFailed, d.Status)
			assert.Equal(t, "refused: the address is loopback", d.LastError)
		})
	}
}
