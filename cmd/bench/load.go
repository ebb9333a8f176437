package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/intellidox/intellidox/internal/client"
)

// Target is a running stack the measurements drive.
type Target struct {
	API       string // api base URL, direct
	APIDapr   string // the same through the api sidecar's service invocation (…/v1.0/invoke/api/method)
	APIKey    string
	DaprToken string // the api sidecar's dapr-api-token
}

// transport is shared by every client of a run: enough idle connections for
// the highest concurrency, so no step pays for new TCP connections.
var transport = &http.Transport{
	Proxy:               nil,
	MaxIdleConns:        1024,
	MaxIdleConnsPerHost: 512,
	IdleConnTimeout:     90 * time.Second,
}

// Client returns an API client with the target's key.
func (t Target) Client() *client.Client {
	c := client.New(t.API)
	c.APIKey = t.APIKey
	c.HTTP = &http.Client{Transport: transport, Timeout: 10 * time.Minute}
	return c
}

// randomContent returns size fresh random bytes: every file is new content,
// so nothing is answered from a cache.
func randomContent(size int) []byte {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	b := make([]byte, size)
	_, _ = rand.NewChaCha8(seed).Read(b)
	return b
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// stage creates a file and uploads data to its presigned URL: everything a
// client does before confirming. It returns the file id.
func stage(ctx context.Context, c *client.Client, name string, data []byte) (string, error) {
	cr, err := c.Create(ctx, client.CreateRequest{Name: name, Size: int64(len(data)), SHA256: hexSHA256(data)})
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	if cr.Upload == nil {
		return "", errors.New("create: content already known (not fresh random bytes?)")
	}
	if err := c.Put(ctx, &cr, bytes.NewReader(data), int64(len(data))); err != nil {
		return "", fmt.Errorf("put: %w", err)
	}
	return cr.ID, nil
}

// events is an open event stream of one file.
type events struct {
	resp *http.Response
	sc   *bufio.Scanner
}

// openEvents opens GET /v1/files/{id}/events and returns once the server
// watches the file (it has sent its first line), so no update is missed.
func openEvents(ctx context.Context, c *client.Client, id string) (*events, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/files/"+id+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.APIKey)
	hc := &http.Client{Transport: c.HTTP.Transport} // no timeout: the stream lasts as long as the scan
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("events: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	if !sc.Scan() {
		resp.Body.Close()
		return nil, fmt.Errorf("event stream closed early: %v", sc.Err())
	}
	return &events{resp: resp, sc: sc}, nil
}

// waitDone reads until the "done" event and returns when it arrived.
func (e *events) waitDone() (time.Time, error) {
	defer e.resp.Body.Close()
	for e.sc.Scan() {
		if e.sc.Text() == "event: done" {
			return time.Now(), nil
		}
	}
	return time.Time{}, fmt.Errorf("event stream ended without a verdict: %v", e.sc.Err())
}

// flow is one file pushed through the pipeline.
type flow struct {
	ID              string
	Confirmed, Done time.Time // confirm sent; "done" event received
}

// push uploads data as a new file, confirms it and waits for the final
// "done" event on the file's event stream, as a watching client does.
func push(ctx context.Context, c *client.Client, data []byte) (flow, error) {
	id, err := stage(ctx, c, fmt.Sprintf("bench-%d.bin", len(data)), data)
	if err != nil {
		return flow{}, err
	}
	ev, err := openEvents(ctx, c, id)
	if err != nil {
		return flow{}, err
	}
	f := flow{ID: id, Confirmed: time.Now()}
	if err := c.Confirm(ctx, id); err != nil {
		ev.resp.Body.Close()
		return flow{}, fmt.Errorf("confirm: %w", err)
	}
	f.Done, err = ev.waitDone()
	return f, err
}

// confirmToVerdict pushes data through the pipeline and returns the time
// from sending the confirm to receiving the final "done" event.
func confirmToVerdict(ctx context.Context, c *client.Client, data []byte) (time.Duration, error) {
	f, err := push(ctx, c, data)
	if err != nil {
		return 0, err
	}
	return f.Done.Sub(f.Confirmed), nil
}

// openLoop starts fn n times at a fixed rate, whatever earlier calls are
// doing (an open workload: arrivals do not wait for completions), and
// returns what each call returned, in arrival order.
func openLoop[T any](ctx context.Context, rate float64, n int, fn func(ctx context.Context, i int) (T, error)) ([]T, []error) {
	out := make([]T, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Go(func() { out[i], errs[i] = fn(ctx, i) })
	}
	wg.Wait()
	return out, errs
}

// Stats summarizes durations.
type Stats struct {
	N    int     `json:"n"`
	Min  float64 `json:"minMs"`
	P50  float64 `json:"p50Ms"`
	P90  float64 `json:"p90Ms"`
	P99  float64 `json:"p99Ms"`
	Max  float64 `json:"maxMs"`
	Mean float64 `json:"meanMs"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// summarize returns the statistics of ds (nearest-rank percentiles).
func summarize(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Stats{N: len(s), Min: ms(s[0]), P50: ms(pct(s, 50)), P90: ms(pct(s, 90)), P99: ms(pct(s, 99)),
		Max: ms(s[len(s)-1]), Mean: ms(sum / time.Duration(len(s)))}
}

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(len(sorted)-1, i-1))]
}

// streamOf is a reader of n pseudo-random bytes generated from seed on the
// fly: a 1 GB file is hashed, then uploaded, without being held in memory.
type streamOf struct {
	n   int64
	rng *rand.ChaCha8
}

func newStream(seed [32]byte, n int64) *streamOf { return &streamOf{n: n, rng: rand.NewChaCha8(seed)} }

func (s *streamOf) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.n)]
	n, _ := s.rng.Read(p)
	s.n -= int64(n)
	return n, nil
}
