package main

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/intellidox/intellidox/internal/client"
)

// memoryRun sends one file of size bytes through the pipeline and returns
// every process's resident memory when idle and at its peak meanwhile. The
// file is generated on the fly twice (to hash it, then to upload it), so
// the load generator holds none of it.
func memoryRun(ctx context.Context, tgt Target, procs []Proc, size int64, logf func(string, ...any)) (Memory, error) {
	res := Memory{Bytes: size}
	// Idle: the median of a few samples.
	idle := map[string][]int64{}
	for range 10 {
		for _, p := range procs {
			idle[p.Name] = append(idle[p.Name], RSSKB(p.PID))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range procs {
		ResetHWM(p.PID)
	}
	peak := map[string]int64{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			mu.Lock()
			for _, p := range procs {
				peak[p.Name] = max(peak[p.Name], RSSKB(p.PID))
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})

	var seed [32]byte
	_, _ = crand.Read(seed[:])
	h := sha256.New()
	if _, err := io.CopyBuffer(h, newStream(seed, size), make([]byte, 1<<20)); err != nil {
		return res, err
	}
	c := tgt.Client()
	cr, err := c.Create(ctx, client.CreateRequest{Name: "big.bin", Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	if err != nil {
		return res, fmt.Errorf("create: %w", err)
	}
	ticks0 := CPUTicks(procs)
	t := time.Now()
	if err := c.Put(ctx, &cr, newStream(seed, size), size); err != nil {
		return res, fmt.Errorf("put: %w", err)
	}
	res.Upload = time.Since(t).Seconds()
	ev, err := openEvents(ctx, c, cr.ID)
	if err != nil {
		return res, err
	}
	t = time.Now()
	if err := c.Confirm(ctx, cr.ID); err != nil {
		return res, fmt.Errorf("confirm: %w", err)
	}
	end, err := ev.waitDone()
	if err != nil {
		return res, err
	}
	res.Seconds = end.Sub(t).Seconds()
	ticks1 := CPUTicks(procs)
	close(stop)
	wg.Wait()
	if f, err := c.Get(ctx, cr.ID); err == nil {
		res.Verdict = string(f.Verdict)
	}
	if sc, err := c.Scans(ctx, cr.ID); err == nil {
		for _, r := range sc.Engines {
			res.Engines = append(res.Engines, fmt.Sprintf("%s: %s in %.1f s (%s)", r.Engine, r.Result,
				float64(r.DurationMs)/1000, r.Detail))
		}
	}
	for _, p := range procs {
		if p.Kind == "bench" {
			continue
		}
		s := slices.Clone(idle[p.Name])
		slices.Sort(s)
		base := s[len(s)/2]
		top := max(peak[p.Name], HWMKB(p.PID))
		res.Procs = append(res.Procs, MemRow{Name: p.Name, Kind: p.Kind, IdleMiB: float64(base) / 1024,
			PeakMiB: float64(top) / 1024, Delta: float64(top-base) / 1024,
			CPU: float64(ticks1[p.Name]-ticks0[p.Name]) / clockTicks})
	}
	logf("memory: %d bytes uploaded in %.1f s, confirm → verdict %.1f s (%s)", size, res.Upload, res.Seconds, res.Verdict)
	return res, nil
}
