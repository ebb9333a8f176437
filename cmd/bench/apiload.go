package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// createBody is a POST /v1/files body for fresh content: a random hash, so
// every request records a new upload and presigns a PUT.
func createBody() []byte {
	return fmt.Appendf(nil, `{"name":"api-bench.bin","size":10240,"sha256":"%x"}`, randomContent(32))
}

// fixedRate sends POST /v1/files to url at rate requests per second for d
// (an open workload: a slow response does not delay the next request) and
// returns the latencies, measured from each request's scheduled start so
// that queueing in the client counts, and how many failed.
func fixedRate(ctx context.Context, url string, header http.Header, rate float64, d time.Duration) (Stats, float64, int) {
	hc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	n := int(rate * d.Seconds())
	var failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		time.Sleep(time.Until(at))
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(createBody()))
			req.Header = header.Clone()
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					err = fmt.Errorf("status %s", resp.Status)
				}
			}
			if err != nil {
				failed.Add(1)
				return
			}
			d := time.Since(at)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	return summarize(lat), float64(len(lat)) / elapsed.Seconds(), int(failed.Load())
}

//go:embed wrk/create.lua
var createLua []byte

// WrkResult is one wrk run.
type WrkResult struct {
	Threads     int     `json:"threads"`
	Connections int     `json:"connections"`
	Seconds     int     `json:"seconds"`
	RPS         float64 `json:"rps"`
	P50         float64 `json:"p50Ms"`
	P90         float64 `json:"p90Ms"`
	P99         float64 `json:"p99Ms"`
	Non2xx      int     `json:"non2xx"`
	Errors      int     `json:"socketErrors"`
}

// runWrk drives POST /v1/files at url as fast as conns connections allow,
// with wrk and the embedded Lua script.
func runWrk(ctx context.Context, url, apiKey, daprToken string, threads, conns int, d time.Duration) (WrkResult, string, error) {
	dir, err := os.MkdirTemp("", "bench-wrk-")
	if err != nil {
		return WrkResult{}, "", err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "create.lua")
	if err := os.WriteFile(script, createLua, 0o600); err != nil {
		return WrkResult{}, "", err
	}
	secs := int(d.Seconds())
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", secs), "--latency", "--timeout", "10s", "-s", script, url)
	cmd.Env = append(os.Environ(), "BENCH_API_KEY="+apiKey, "BENCH_DAPR_TOKEN="+daprToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return WrkResult{}, string(out), fmt.Errorf("wrk: %v\n%s", err, out)
	}
	r := WrkResult{Threads: threads, Connections: conns, Seconds: secs}
	text := string(out)
	if m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindStringSubmatch(text); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, p := range []struct {
		label string
		dst   *float64
	}{{"50%", &r.P50}, {"90%", &r.P90}, {"99%", &r.P99}} {
		if m := regexp.MustCompile(`(?m)^\s+` + p.label + `\s+([\d.]+)(us|ms|s)\s*$`).FindStringSubmatch(text); m != nil {
			*p.dst = wrkMs(m[1], m[2])
		}
	}
	if m := regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`).FindStringSubmatch(text); m != nil {
		r.Non2xx, _ = strconv.Atoi(m[1])
	}
	if m := regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`).FindStringSubmatch(text); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.Errors += n
		}
	}
	if r.RPS == 0 {
		return r, text, fmt.Errorf("wrk: no Requests/sec in its output:\n%s", text)
	}
	return r, strings.TrimSpace(text), nil
}

func wrkMs(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return f / 1000
	case "s":
		return f * 1000
	}
	return f
}
