package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intellidox/intellidox/internal/client"
)

// doneWatcher learns when files reach a final status by polling the api's
// database: cheaper for the system under test than an event stream or a
// GET per file, so the throughput steps measure the pipeline, not the
// watching. The end time is the verdict transaction's own timestamp.
type doneWatcher struct {
	pool *pgxpool.Pool
	mu   sync.Mutex
	wait map[string]chan time.Time
}

func newDoneWatcher(ctx context.Context, databaseURL string) (*doneWatcher, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	w := &doneWatcher{pool: pool, wait: map[string]chan time.Time{}}
	go w.run(ctx)
	return w, nil
}

// watch returns a channel that receives the time file id was done.
func (w *doneWatcher) watch(id string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	w.wait[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *doneWatcher) forget(id string) {
	w.mu.Lock()
	delete(w.wait, id)
	w.mu.Unlock()
}

func (w *doneWatcher) run(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	defer w.pool.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		ids := make([]string, 0, len(w.wait))
		for id := range w.wait {
			ids = append(ids, id)
		}
		w.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		rows, err := w.pool.Query(ctx, `SELECT id::text, updated_at FROM uploads
			WHERE id = ANY($1::uuid[]) AND status IN ('done', 'rejected')`, ids)
		if err != nil {
			continue
		}
		for rows.Next() {
			var id string
			var at time.Time
			if rows.Scan(&id, &at) != nil {
				continue
			}
			w.mu.Lock()
			ch := w.wait[id]
			delete(w.wait, id)
			w.mu.Unlock()
			if ch != nil {
				ch <- at
			}
		}
		rows.Close()
	}
}

// flowResult is one file of a closed-loop step.
type flowResult struct {
	confirmed, done time.Time
	err             error
}

// closedLoop keeps conc files in flight for warm+dur: each worker stages a
// fresh file of size bytes, confirms it, waits for its verdict, and starts
// the next. It returns every file's times.
func closedLoop(ctx context.Context, tgt Target, w *doneWatcher, size, conc int, total time.Duration) []flowResult {
	var mu sync.Mutex
	var out []flowResult
	stop := time.Now().Add(total)
	var wg sync.WaitGroup
	for k := range conc {
		wg.Go(func() {
			c := tgt.Client()
			for i := 0; time.Now().Before(stop) && ctx.Err() == nil; i++ {
				r := oneFlow(ctx, c, w, fmt.Sprintf("tp-%d-%d.bin", k, i), randomContent(size))
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
				if r.err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	return out
}

func oneFlow(ctx context.Context, c *client.Client, w *doneWatcher, name string, data []byte) flowResult {
	id, err := stage(ctx, c, name, data)
	if err != nil {
		return flowResult{err: err}
	}
	ch := w.watch(id)
	start := time.Now()
	if err := c.Confirm(ctx, id); err != nil {
		w.forget(id)
		return flowResult{err: fmt.Errorf("confirm: %w", err)}
	}
	select {
	case at := <-ch:
		return flowResult{confirmed: start, done: at}
	case <-time.After(2 * time.Minute):
		w.forget(id)
		return flowResult{confirmed: start, err: fmt.Errorf("file %s: no verdict after 2 minutes", id)}
	case <-ctx.Done():
		return flowResult{confirmed: start, err: ctx.Err()}
	}
}

// phaseBreakdown reads each engine's result of the given files from the
// api's database and returns, per phase, the durations: confirm → an
// engine starts (extraction and event hops), the engine's time in the
// pipeline (reading the object included), and the last result → the
// verdict event.
func phaseBreakdown(ctx context.Context, databaseURL string, flows []flow, extractions map[string]window) (map[string]Stats, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	byID := map[string]flow{}
	ids := make([]string, 0, len(flows))
	for _, f := range flows {
		byID[f.ID] = f
		ids = append(ids, f.ID)
	}
	rows, err := conn.Query(ctx, `SELECT u.id::text, r.engine, r.scanned_at, r.duration_ms
		FROM uploads u JOIN scan_results r ON r.sha256 = u.sha256 WHERE u.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	phases := map[string][]time.Duration{}
	last := map[string]time.Time{}
	for rows.Next() {
		var id, engine string
		var at time.Time
		var ms int64
		if err := rows.Scan(&id, &engine, &at, &ms); err != nil {
			return nil, err
		}
		f := byID[id]
		end := at.Add(time.Duration(ms) * time.Millisecond)
		phases["confirm → "+engine+" starts"] = append(phases["confirm → "+engine+" starts"], at.Sub(f.Confirmed))
		phases[engine+" in the pipeline"] = append(phases[engine+" in the pipeline"], end.Sub(at))
		if end.After(last[id]) {
			last[id] = end
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for id, end := range last {
		phases["last result → verdict event"] = append(phases["last result → verdict event"], byID[id].Done.Sub(end))
	}
	for _, f := range flows {
		if w, ok := extractions[f.ID]; ok {
			phases["confirm → extractor starts"] = append(phases["confirm → extractor starts"], w.start.Sub(f.Confirmed))
			phases["extractor (presign, read, analyze, publish)"] = append(phases["extractor (presign, read, analyze, publish)"], w.end.Sub(w.start))
		}
	}
	out := map[string]Stats{}
	for k, v := range phases {
		out[k] = summarize(v)
	}
	return out, nil
}

// window is when something started and ended.
type window struct{ start, end time.Time }

// extractionsFromLog reads the extractor's "extracted" log lines (the
// launcher prefixes each with the app's name) and returns each file's
// extraction window: the line's time is the end, duration_ms the length.
func extractionsFromLog(path string) map[string]window {
	out := map[string]window{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `"msg":"extracted"`) {
			continue
		}
		_, js, ok := strings.Cut(line, "| ")
		if !ok {
			continue
		}
		var rec struct {
			Time       time.Time `json:"time"`
			FileID     string    `json:"file_id"`
			DurationMs int64     `json:"duration_ms"`
		}
		if json.Unmarshal([]byte(js), &rec) != nil || rec.FileID == "" {
			continue
		}
		out[rec.FileID] = window{start: rec.Time.Add(-time.Duration(rec.DurationMs) * time.Millisecond), end: rec.Time}
	}
	return out
}
