package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/testenv"
)

// config sizes a chaos run. The defaults are the reduced form that runs
// with every `go test ./...`; `make chaos` sets the full size.
type config struct {
	n      int           // files per test (CHAOS_N)
	rounds int           // faults of each kind per test (CHAOS_ROUNDS)
	flow   time.Duration // uploads are spread evenly over this (CHAOS_FLOW)
	drain  time.Duration // how long files may take to finish after the last fault (CHAOS_DRAIN)
	seed   uint64        // workload and fault timing (CHAOS_SEED)
	report string        // file to append one JSON summary line per test to (CHAOS_REPORT)
}

func loadConfig(t *testing.T) config {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos tests start whole stacks; skipped with -short")
	}
	if p := testenv.Profile(); p != "local" {
		t.Skipf("chaos tests restart local Redis, PostgreSQL and clamd; E2E_PROFILE=%s", p)
	}
	return sizes(t)
}

// sizes reads the run's size from the environment.
func sizes(t *testing.T) config {
	t.Helper()
	c := config{n: envInt(t, "CHAOS_N", 50)}
	c.rounds = envInt(t, "CHAOS_ROUNDS", 1)
	if c.n >= 200 && os.Getenv("CHAOS_ROUNDS") == "" {
		c.rounds = 3
	}
	c.flow = envDuration(t, "CHAOS_FLOW", time.Duration(c.n)*300*time.Millisecond)
	c.drain = envDuration(t, "CHAOS_DRAIN", 4*time.Minute)
	c.seed = uint64(envInt(t, "CHAOS_SEED", int(time.Now().UnixNano()%1e9)))
	c.report = os.Getenv("CHAOS_REPORT")
	t.Logf("chaos: %d files over %s, %d round(s) of faults, seed %d (CHAOS_SEED reproduces the workload and timing)",
		c.n, c.flow, c.rounds, c.seed)
	return c
}

func envInt(t *testing.T, key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, key)
	return n
}

func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, key)
	return d
}

// chaosEnv tunes the stack so that recovery is quick but realistic: the
// reconciler re-drives after 20 s instead of 2 min, scanners compare
// signature versions every 5 s, and the test's client is not rate limited
// (it is one key polling hundreds of files). Everything else, including
// the pub/sub's 30 s processing timeout and the resiliency policy, is the
// components' own.
func chaosEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"RECONCILE_STUCK_AFTER":    "20s",
		"SIGNATURE_CHECK_INTERVAL": "5s",
		"RATE_LIMIT_RPS":           "100000",
		"RATE_LIMIT_BURST":         "100000",
		"LOG_LEVEL":                "info",
	}
	if testenv.Profile() == "k8s" {
		// No signature changes in the cluster's runs (pod deletions,
		// rolling updates): the scanners keep their own interval, and are
		// not rolled out for this setting.
		delete(env, "SIGNATURE_CHECK_INTERVAL")
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// run is one chaos test: a stack, a workload pushed through it, and the
// faults injected meanwhile.
type run struct {
	t      *testing.T
	cfg    config
	fault  string
	ctx    context.Context
	stack  *testenv.Stack
	c      *client.Client
	db     *pgxpool.Pool
	items  []*item
	up     *uploader
	rnd    *rand.Rand
	start  time.Time
	pushed <-chan struct{}

	feeds []<-chan struct{} // bursts pushed to give a fault work to hit

	mu     sync.Mutex
	faults []string
	missed []string // faults that struck no unfinished file
}

func newRun(t *testing.T, cfg config, fault string, opts testenv.StackOptions) *run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.flow+cfg.drain+15*time.Minute)
	t.Cleanup(cancel)
	opts.Env = chaosEnv(opts.Env)
	stack := startStack(t, opts)
	t.Cleanup(func() { keepLog(t, stack.LogPath) })
	db, err := pgxpool.New(ctx, stack.DB)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	c := stack.Client()
	return &run{t: t, cfg: cfg, fault: fault, ctx: ctx, stack: stack, c: c, db: db,
		items: workload(cfg.n, cfg.seed), up: newUploader(c), rnd: rand.New(rand.NewPCG(cfg.seed, 0xFA17))}
}

// keepLog copies the stack's log out of the test's temporary directory
// when the test failed, as evidence.
func keepLog(t *testing.T, path string) {
	if !t.Failed() && os.Getenv("CHAOS_KEEP_LOGS") == "" {
		return
	}
	dst := filepath.Join(os.TempDir(), fmt.Sprintf("intellidox-%s-%s.log", t.Name(), time.Now().Format("150405")))
	src, err := os.Open(path)
	if err != nil {
		return
	}
	defer src.Close()
	out, err := os.Create(dst)
	if err != nil {
		return
	}
	defer out.Close()
	if _, err := io.Copy(out, src); err == nil {
		t.Logf("stack log kept at %s", dst)
	}
}

// startPush starts uploading the workload in bursts of 8 files spread over
// cfg.flow.
func (r *run) startPush() {
	r.start = time.Now()
	r.pushed = r.up.push(r.ctx, r.items, r.cfg.flow, 8)
}

// moments spreads k fault times over the first 80% of the flow (uploads
// still arrive after each): one in each of k equal slots, at a random
// point of its middle.
func (r *run) moments(k int) []time.Duration {
	if k <= 0 {
		return nil // CHAOS_ROUNDS=0: a baseline without faults
	}
	slot := r.cfg.flow * 8 / 10 / time.Duration(k)
	out := make([]time.Duration, k)
	for i := range out {
		out[i] = slot*time.Duration(i) + time.Duration(float64(slot)*(0.15+0.7*r.rnd.Float64()))
	}
	return out
}

// at sleeps until offset d into the flow. Sleeping schedules a fault at a
// random moment; it never stands in for waiting on a condition.
func (r *run) at(d time.Duration) {
	select {
	case <-time.After(time.Until(r.start.Add(d))):
	case <-r.ctx.Done():
	}
}

// pause sleeps a random duration in [lo, hi]: how long a fault lasts.
func (r *run) pause(lo, hi time.Duration) time.Duration {
	d := lo + time.Duration(r.rnd.Int64N(int64(hi-lo)+1))
	select {
	case <-time.After(d):
	case <-r.ctx.Done():
	}
	return d
}

// injected records a fault injected at time at.
func (r *run) injected(at time.Time, format string, args ...any) {
	msg := fmt.Sprintf("t+%5.1fs ", at.Sub(r.start).Seconds()) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.faults = append(r.faults, msg)
	r.mu.Unlock()
	r.t.Log("fault: " + msg)
}

// ready waits, before a fault, for work waiting for engine (see inflight),
// so that the fault cuts work off rather than hitting an idle system or
// files about to finish. If none comes within 5 s (the faults of a round
// can outlast the flow), it pushes a burst of new files, and again every
// 5 s, for at most a minute; a fault that then strikes nothing is
// reported by struck. It returns the counts and the ids of the uploads
// processing at that moment.
func (r *run) ready(engine string) (processing, waiting int, ids []string) {
	next, giveUp := time.Now().Add(5*time.Second), time.Now().Add(65*time.Second)
	for {
		processing, waiting, ids = r.inflight(engine)
		if waiting > 0 || r.ctx.Err() != nil || time.Now().After(giveUp) {
			return processing, waiting, ids
		}
		if time.Now().After(next) {
			r.feed()
			next = time.Now().Add(5 * time.Second)
		}
		select {
		case <-time.After(25 * time.Millisecond):
		case <-r.ctx.Done():
		}
	}
}

// feed pushes a burst of 8 new files, part of the run like the others.
func (r *run) feed() {
	more := workload(8, r.cfg.seed+uint64(len(r.items)))
	for i, it := range more {
		it.i = len(r.items) + i
		it.name = fmt.Sprintf("chaos-%03d-%s", it.i, it.kind.name)
	}
	r.t.Logf("no upload in flight before a fault: pushing %d more files", len(more))
	r.items = append(r.items, more...)
	r.feeds = append(r.feeds, r.up.push(r.ctx, more, 0, len(more)))
}

// inflight counts uploads in processing, and those of them waiting for
// engine: not extracted yet for "extractor", any for "", else verified
// content without a result of engine. It returns the ids of those in
// processing.
func (r *run) inflight(engine string) (processing, waiting int, ids []string) {
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	_ = r.db.QueryRow(ctx, `SELECT count(*),
		count(*) FILTER (WHERE CASE WHEN $1 = 'extractor' THEN b.state <> 'verified' WHEN $1 = '' THEN true
			ELSE b.state = 'verified' AND NOT EXISTS (
				SELECT 1 FROM scan_results s WHERE s.sha256 = u.sha256 AND s.engine = $1) END),
		coalesce(array_agg(u.id::text), '{}')
		FROM uploads u JOIN blobs b USING (sha256) WHERE u.status = 'processing'`, engine).Scan(&processing, &waiting, &ids)
	return processing, waiting, ids
}

// struck counts the uploads of ids that were unfinished at the moment at:
// still processing, or finished (updated) at or after it. Called once the
// fault has struck (for a database outage, once it is back), it proves the
// fault cut into the round's work; a fault that struck none is recorded
// as missed, which fails the test.
func (r *run) struck(fault string, ids []string, at time.Time) int {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	var n int
	err := r.db.QueryRow(ctx, `SELECT count(*) FROM uploads WHERE id = ANY($1::uuid[])
		AND (status = 'processing' OR updated_at >= $2)`, ids, at).Scan(&n)
	if err != nil {
		r.t.Errorf("count the uploads %s struck: %v", fault, err)
	}
	if n == 0 {
		r.mu.Lock()
		r.missed = append(r.missed, fault)
		r.mu.Unlock()
	}
	return n
}

// summary is one chaos test's outcome, as docs/chaos.md reports it.
type summary struct {
	Test            string `json:"test"`
	Seed            uint64 `json:"seed"`
	Files           int    `json:"files"`
	UniqueContents  int    `json:"uniqueContents"`
	Confirmed       int    `json:"confirmed"`
	Faults          int    `json:"faults"`
	Finished        int    `json:"finished"`
	Lost            int    `json:"lost"`
	WrongVerdicts   int    `json:"wrongVerdicts"`
	Duplicates      int    `json:"duplicates"`
	Contradictions  int    `json:"contradictions"`
	MissingEvents   int    `json:"missingEvents"`
	CompletedEvents int    `json:"completedEvents"`
	Redelivered     int    `json:"redelivered"` // file.completed published again with the same id (at least once)
	Scans           int    `json:"scans"`       // scans engines performed (distinct scannedAt)
	RepeatScans     int    `json:"repeatScans"` // scans of content an engine had scanned already
	// From the scanners' logs: every engine execution, those beyond the
	// first per (content, engine, signatures), and those that started
	// after a result was stored (must be 0).
	EngineRuns        int            `json:"engineRuns"`
	RepeatEngineRuns  int            `json:"repeatEngineRuns"`
	RescansAfterStore int            `json:"rescansAfterStore"`
	FaultsMissed      int            `json:"faultsMissed"`  // faults that struck no unfinished file (must be 0)
	ScanEvents        int            `json:"scanEvents"`    // scan.completed deliveries published
	Redrives          int            `json:"redrives"`      // reconciler re-drives
	DeadLetters       int            `json:"deadLetters"`   // messages dead-lettered
	ClientRetries     map[int]int    `json:"clientRetries"` // transient API failures the client retried, by status
	Anomalies         int            `json:"anomalies"`     // 5xx other than 503
	FlowSeconds       float64        `json:"flowSeconds"`
	DrainSeconds      float64        `json:"drainSeconds"` // from the last confirm or fault to the last file finished
	WallSeconds       float64        `json:"wallSeconds"`
	Extra             map[string]any `json:"extra,omitempty"`
}

// finish waits for the upload and every file, checks the outcome and
// reports it. faultsEnded is when the last fault was over.
func (r *run) finish(faultsEnded time.Time, extra map[string]any) summary {
	t := r.t
	t.Helper()
	for _, pushed := range append([]<-chan struct{}{r.pushed}, r.feeds...) {
		select {
		case <-pushed:
		case <-r.ctx.Done():
			t.Fatalf("uploads did not end: %v", r.ctx.Err())
		}
	}
	s := summary{Test: t.Name(), Seed: r.cfg.seed, Files: len(r.items), Extra: extra}
	s.FlowSeconds = time.Since(r.start).Seconds()
	// Files drain from when the last was confirmed and the last fault ended.
	drainFrom := time.Now()
	if faultsEnded.After(drainFrom) {
		drainFrom = faultsEnded
	}
	shas := map[string]*item{}
	var ids []string
	for _, it := range r.items {
		if it.err != nil || !it.confirmed {
			continue
		}
		s.Confirmed++
		ids = append(ids, it.id)
		shas[it.sha] = it
	}
	s.UniqueContents = len(shas)
	r.mu.Lock()
	s.Faults = len(r.faults)
	s.FaultsMissed = len(r.missed)
	for _, f := range r.missed {
		t.Errorf("MISSED: the fault %q struck no unfinished file of the round", f)
	}
	r.mu.Unlock()

	// Every confirmed file must reach a terminal status.
	pending := r.waitTerminal(ids, drainFrom.Add(r.cfg.drain))
	// The events of finished files leave through the outbox: an upload
	// done at once has its file.completed published by the outbox's
	// poller, not on the request. The event checks count what the outbox
	// published, so they wait for it to empty (within the same deadline).
	r.waitOutboxEmpty(drainFrom.Add(r.cfg.drain))
	s.DrainSeconds = time.Since(drainFrom).Seconds()
	s.Lost = len(pending)
	s.Finished = s.Confirmed - s.Lost
	for _, id := range pending {
		t.Errorf("LOST: upload %s never reached a terminal status:\n%s", id, r.evidence(id))
	}

	// With the correct verdict and exactly one result per engine.
	for _, it := range r.items {
		if it.confirmed && !slices.Contains(pending, it.id) {
			if problems := r.checkFile(it); len(problems) > 0 {
				s.WrongVerdicts++
				t.Errorf("WRONG: %s (%s, upload %s, sha256 %s): %s\n%s", it.name, it.kind.name, it.id, it.sha,
					strings.Join(problems, "; "), r.evidence(it.id))
			}
		}
	}
	r.checkStore(&s, shas)
	r.checkEvents(&s, shas)
	r.checkEngineRuns(&s, shas)

	s.ClientRetries = r.up.statuses
	s.Anomalies = int(r.up.anomalies.Load())
	s.WallSeconds = time.Since(r.start).Seconds()
	for _, n := range r.up.notes {
		t.Logf("client: %s", n)
	}
	r.mu.Lock()
	for _, f := range r.faults {
		t.Logf("fault log: %s", f)
	}
	r.mu.Unlock()
	b, _ := json.Marshal(s)
	t.Logf("CHAOS SUMMARY %s", b)
	if r.cfg.report != "" {
		if f, err := os.OpenFile(r.cfg.report, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.Write(append(b, '\n'))
			f.Close()
		}
	}

	failed := 0
	for _, it := range r.items {
		if !it.confirmed {
			failed++
		}
	}
	assert.Zero(t, failed, "every file must be uploaded and confirmed despite the fault (the client retries)")
	assert.Zero(t, s.Lost, "files lost")
	assert.Zero(t, s.WrongVerdicts, "files with a wrong verdict or results")
	assert.Zero(t, s.Duplicates, "duplicated results or completions")
	assert.Zero(t, s.Contradictions, "contradictory results or completions")
	assert.Zero(t, s.MissingEvents, "uploads finished without a file.completed event")
	assert.Zero(t, s.Anomalies, "server errors other than 503")
	assert.Zero(t, s.RescansAfterStore, "engine runs on content whose result was already stored")
	assert.Zero(t, s.FaultsMissed, "faults that struck no unfinished file")
	return s
}

// waitTerminal polls the database until none of ids is still processing or
// the deadline passes, and returns those still unfinished.
// waitOutboxEmpty waits until the api's outbox holds no event, or the
// deadline; what is left then shows up as missing events.
func (r *run) waitOutboxEmpty(deadline time.Time) {
	for {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		var n int
		err := r.db.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
		cancel()
		if (err == nil && n == 0) || time.Now().After(deadline) || r.ctx.Err() != nil {
			return
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.ctx.Done():
		}
	}
}

func (r *run) waitTerminal(ids []string, deadline time.Time) []string {
	var pending []string
	for {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		rows, err := r.db.Query(ctx, `SELECT id::text FROM uploads
			WHERE id = ANY($1::uuid[]) AND status NOT IN ('done', 'rejected') ORDER BY id`, ids)
		if err == nil {
			pending, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		cancel()
		if err == nil && len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) || r.ctx.Err() != nil {
			if err != nil {
				r.t.Fatalf("database unreachable while waiting for files: %v", err)
			}
			return pending
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-r.ctx.Done():
		}
	}
}

// checkFile compares what the api says about one file with what was
// uploaded: status done, the documented verdict, and each engine's result.
func (r *run) checkFile(it *item) []string {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	var problems []string
	f, err := r.c.Get(ctx, it.id)
	if err != nil {
		return []string{"get: " + err.Error()}
	}
	if f.Status != files.Done || f.Verdict != it.kind.verdict {
		problems = append(problems, fmt.Sprintf("status %s verdict %s, want done %s (reason %q)",
			f.Status, f.Verdict, it.kind.verdict, f.Reason))
	}
	if f.SHA256 != it.sha {
		problems = append(problems, "sha256 "+f.SHA256)
	}
	scans, err := r.c.Scans(ctx, it.id)
	if err != nil {
		return append(problems, "scans: "+err.Error())
	}
	if !scans.Complete || scans.Verdict != it.kind.verdict {
		problems = append(problems, fmt.Sprintf("scans complete=%v verdict %s", scans.Complete, scans.Verdict))
	}
	seen := map[string]int{}
	for _, e := range scans.Engines {
		seen[e.Engine]++
		if seen[e.Engine] == 2 {
			problems = append(problems, "several results of "+e.Engine)
		}
	}
	// Engines outside ENGINES (informational ones, e.g. the Node.js example
	// scanner) may report too; only the counted ones have expectations.
	for i, name := range engines {
		if seen[name] == 0 {
			problems = append(problems, "no result of "+name)
			continue
		}
		for _, e := range scans.Engines {
			if e.Engine == name && it.kind.expect[i] != "" && e.Result != it.kind.expect[i] {
				problems = append(problems, fmt.Sprintf("%s says %s (%s), want %s", name, e.Result, e.Detail, it.kind.expect[i]))
			}
		}
	}
	return problems
}

// checkStore looks at the database: one result row per (content, engine),
// one verdict per content in the history (engines that agree never make
// it flip), and the reconciler's re-drives.
func (r *run) checkStore(s *summary, shas map[string]*item) {
	t := r.t
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	var dupRows int
	require.NoError(t, r.db.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT sha256, engine FROM scan_results GROUP BY 1, 2 HAVING count(*) > 1) d`).Scan(&dupRows))
	s.Duplicates += dupRows
	if dupRows > 0 {
		t.Errorf("DUPLICATE: %d (sha256, engine) pairs have several result rows", dupRows)
	}
	keys := make([]string, 0, len(shas))
	for k := range shas {
		keys = append(keys, k)
	}
	rows, err := r.db.Query(ctx, `SELECT sha256, array_agg(verdict ORDER BY id) FROM verdict_history
		WHERE sha256 = ANY($1) GROUP BY sha256`, keys)
	require.NoError(t, err)
	history := map[string][]string{}
	for rows.Next() {
		var sha string
		var vs []string
		require.NoError(t, rows.Scan(&sha, &vs))
		history[sha] = vs
	}
	require.NoError(t, rows.Err())
	for sha, it := range shas {
		h := history[sha]
		switch {
		case len(h) == 1 && h[0] == string(it.kind.verdict):
		case len(h) > 1 && allEqual(h):
			s.Duplicates += len(h) - 1
			t.Errorf("DUPLICATE: content %s (%s) was settled %d times: %v", sha, it.kind.name, len(h), h)
		case len(h) > 1:
			s.Contradictions++
			t.Errorf("FLIP-FLOP: content %s (%s) verdict history %v, want only %s", sha, it.kind.name, h, it.kind.verdict)
		default:
			// No history, or one wrong verdict: checkFile reports the file.
		}
	}
	require.NoError(t, r.db.QueryRow(ctx, `SELECT coalesce(sum(redrives), 0) FROM uploads`).Scan(&s.Redrives))
	require.NoError(t, r.db.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&s.DeadLetters))
	if s.DeadLetters > 0 {
		rows, err := r.db.Query(ctx, `SELECT topic, left(data::text, 300) FROM dead_letters ORDER BY id LIMIT 10`)
		if err == nil {
			for rows.Next() {
				var topic, data string
				if rows.Scan(&topic, &data) == nil {
					t.Logf("dead letter on %s: %s", topic, data)
				}
			}
			rows.Close()
		}
	}
}

func allEqual(vs []string) bool {
	for _, v := range vs {
		if v != vs[0] {
			return false
		}
	}
	return true
}

// checkEvents reads the pub/sub's streams in Redis: every upload that went
// through processing is announced by exactly one file.completed agreeing
// with its final state, and no engine reported two different results for
// the same content.
func (r *run) checkEvents(s *summary, shas map[string]*item) {
	t := r.t
	completed, err := streamEvents(r.stack.Redis, contract.TopicFileCompleted)
	require.NoError(t, err)
	// Delivery is at least once: the outbox publishes a row again when its
	// delete failed (the database went away right after the publish), with
	// the same CloudEvent id and data. A redelivery is counted, not a
	// duplicate; a second event (another id) for the same upload is.
	byFile := map[string][]contract.FileCompleted{}
	seen := map[string]bool{}
	for _, e := range completed {
		// The outbox names each event by its row: without that, a
		// redelivery would look like a second event.
		require.True(t, strings.HasPrefix(e.ID, "outbox-"), "file.completed's CloudEvent id %q is not the outbox row's", e.ID)
		// The row id is unique per database only: on the k8s profile the
		// stream outlives the run's own database, whose rows start at 1
		// again. A redelivery carries the same data as well.
		key := e.ID + "\x00" + string(e.Data)
		if seen[key] {
			s.Redelivered++
			continue
		}
		seen[key] = true
		var ev contract.FileCompleted
		require.NoError(t, json.Unmarshal(e.Data, &ev))
		byFile[ev.FileID] = append(byFile[ev.FileID], ev)
		s.CompletedEvents++
	}
	for _, it := range r.items {
		if !it.confirmed {
			continue
		}
		evs := byFile[it.id]
		switch {
		case it.expectsEvent() && len(evs) == 0:
			s.MissingEvents++
			t.Errorf("MISSING: upload %s (%s) finished without a file.completed event", it.id, it.name)
		case len(evs) > 1 || (!it.expectsEvent() && len(evs) > 0):
			extra := len(evs)
			if it.expectsEvent() {
				extra--
			}
			s.Duplicates += extra
			t.Errorf("DUPLICATE: upload %s (%s, created %s, confirmed %s) has %d file.completed events: %+v",
				it.id, it.name, it.createStatus, it.confirmStatus, len(evs), evs)
		}
		for _, ev := range evs {
			if ev.Status != string(files.Done) || ev.Verdict != it.kind.verdict {
				s.Contradictions++
				t.Errorf("CONTRADICTION: file.completed for %s (%s) says %s %s, want done %s",
					it.id, it.name, ev.Status, ev.Verdict, it.kind.verdict)
			}
		}
	}

	scans, err := streamEvents(r.stack.Redis, contract.TopicScanCompleted)
	require.NoError(t, err)
	type key struct{ sha, engine string }
	results := map[key]map[contract.Outcome]bool{}
	performed := map[key]map[time.Time]bool{}
	for _, e := range scans {
		var ev contract.ScanCompleted
		require.NoError(t, json.Unmarshal(e.Data, &ev))
		if shas[ev.SHA256] == nil {
			continue
		}
		s.ScanEvents++
		k := key{ev.SHA256, ev.Result.Engine}
		if results[k] == nil {
			results[k], performed[k] = map[contract.Outcome]bool{}, map[time.Time]bool{}
		}
		results[k][ev.Result.Result] = true
		performed[k][ev.Result.ScannedAt] = true
	}
	for k, outs := range results {
		if len(outs) > 1 {
			s.Contradictions++
			t.Errorf("CONTRADICTION: %s reported different results for %s (%s): %v", k.engine, k.sha,
				shas[k.sha].kind.name, outs)
		}
		s.Scans += len(performed[k])
		s.RepeatScans += len(performed[k]) - 1
	}
}

// checkEngineRuns counts the engines' real executions from the scanners'
// logs. Redelivery (after a crash or not) must never scan a content again
// once an engine's result for it was stored. Every content must show a run
// of every counted engine, or the count would be blind.
func (r *run) checkEngineRuns(s *summary, shas map[string]*item) {
	t := r.t
	if r.stack.LogPath == "" {
		// The k8s profile: a deleted pod's log is deleted with it, so the
		// runs of the engines it replaced cannot be counted. The store and
		// event checks above still hold every content to one result per
		// engine.
		t.Logf("engine runs not counted: the pods' logs leave with the deleted pods (E2E_PROFILE=%s)", testenv.Profile())
		return
	}
	er, err := readEngineRunsFile(r.stack.LogPath)
	require.NoError(t, err)
	s.EngineRuns, s.RepeatEngineRuns = er.total()
	rescans := er.rescansAfterStore()
	s.RescansAfterStore = len(rescans)
	for _, m := range rescans {
		t.Errorf("RESCAN: %s", m)
	}
	ran := map[[2]string]bool{}
	for k := range er.runs {
		ran[[2]string{k.sha, k.engine}] = true
	}
	blind := 0
	for sha := range shas {
		for _, e := range engines {
			if !ran[[2]string{sha, e}] {
				blind++
			}
		}
	}
	if blind > 0 {
		t.Errorf("the scanners' logs show no %q line for %d (content, engine) pairs of %d: the engine-run count is blind",
			scan.LogEngineRun, blind, len(shas)*len(engines))
	}
}

// evidence describes an upload's rows for a failure message.
func (r *run) evidence(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	var row string
	if err := r.db.QueryRow(ctx, `SELECT row_to_json(x)::text FROM (
		SELECT u.id, u.name, u.status, u.reason, u.redrives, u.created_at, u.confirmed_at, u.updated_at,
		       b.sha256, b.state AS blob_state, b.verdict AS blob_verdict, b.reason AS blob_reason, b.updated_at AS blob_updated_at
		FROM uploads u JOIN blobs b USING (sha256) WHERE u.id = $1) x`, id).Scan(&row); err != nil {
		return "  (no row: " + err.Error() + ")"
	}
	fmt.Fprintf(&b, "  upload: %s\n", row)
	rows, err := r.db.Query(ctx, `SELECT row_to_json(s)::text FROM scan_results s
		WHERE sha256 = (SELECT sha256 FROM uploads WHERE id = $1) ORDER BY engine`, id)
	if err == nil {
		for rows.Next() {
			if rows.Scan(&row) == nil {
				fmt.Fprintf(&b, "  result: %s\n", row)
			}
		}
		rows.Close()
	}
	rows, err = r.db.Query(ctx, `SELECT row_to_json(h)::text FROM verdict_history h
		WHERE sha256 = (SELECT sha256 FROM uploads WHERE id = $1) ORDER BY id`, id)
	if err == nil {
		for rows.Next() {
			if rows.Scan(&row) == nil {
				fmt.Fprintf(&b, "  history: %s\n", row)
			}
		}
		rows.Close()
	}
	return b.String()
}
