package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/intellidox/intellidox/examples/webhook-receiver/receiver"
)

// WebhookResult is verdict → webhook delivery latency, and the pipeline's
// throughput without and with a webhook subscription receiving every
// file.completed.
type WebhookResult struct {
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"secondsPerRound"`
	Rounds      int     `json:"rounds"`
	// Latency is the receiver's arrival time minus the payload's
	// scannedAt (when the verdict was decided), signature verified.
	Latency Stats `json:"verdictToWebhook"`
	// Queued is the part after the api queued the delivery: arrival minus
	// the payload's timestamp.
	Queued     Stats   `json:"queuedToWebhook"`
	Unverified int     `json:"unverified"`
	Off        float64 `json:"filesPerSecondOff"`
	On         float64 `json:"filesPerSecondOn"`
	// Change is On relative to Off, in percent (negative: slower).
	Change float64 `json:"changePercent"`
}

// webhookRun alternates rounds without and with a subscription (off, on,
// off, on …) at conc files in flight, 10 KB each, and averages each side,
// so that drift over the run weighs on both alike.
func webhookRun(ctx context.Context, tgt Target, w *doneWatcher, conc, rounds int, warm, measure time.Duration,
	logf func(string, ...any)) (WebhookResult, error) {
	res := WebhookResult{Concurrency: conc, Seconds: measure.Seconds(), Rounds: rounds}
	var mu sync.Mutex
	var secret string
	arrivals := map[string][2]time.Duration{} // file id → verdict to delivery, queued to delivery
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if receiver.Verify(secret, r.Header, body, at) != nil {
			res.Unverified++
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev receiver.Event
		if json.Unmarshal(body, &ev) == nil {
			if _, seen := arrivals[ev.Data.FileID]; !seen {
				arrivals[ev.Data.FileID] = [2]time.Duration{at.Sub(ev.Data.ScannedAt), at.Sub(ev.Timestamp)}
			}
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	var offs, ons []float64
	var lat, queued []time.Duration
	for round := range 2 * rounds {
		on := round%2 == 1
		var sub string
		if on {
			id, s, err := subscribe(ctx, tgt, srv.URL+"/bench")
			if err != nil {
				return res, err
			}
			mu.Lock()
			sub, secret = id, s
			mu.Unlock()
		}
		begin := time.Now()
		flows := closedLoop(ctx, tgt, w, 10_000, conc, warm+measure)
		from, to := begin.Add(warm), begin.Add(warm+measure)
		files := 0
		for _, f := range flows {
			if f.err == nil && !f.done.Before(from) && f.done.Before(to) {
				files++
			}
		}
		rate := float64(files) / measure.Seconds()
		if on {
			ons = append(ons, rate)
			if err := unsubscribe(ctx, tgt, sub); err != nil {
				return res, err
			}
		} else {
			offs = append(offs, rate)
		}
		logf("webhooks round %d (subscription %v): %.1f files/s", round+1, on, rate)
	}
	mu.Lock()
	for _, d := range arrivals {
		lat, queued = append(lat, d[0]), append(queued, d[1])
	}
	mu.Unlock()
	res.Latency, res.Queued = summarize(lat), summarize(queued)
	res.Off, res.On = mean(offs), mean(ons)
	if res.Off > 0 {
		res.Change = (res.On/res.Off - 1) * 100
	}
	return res, nil
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// subscribe creates a file.completed webhook and returns its id and secret.
func subscribe(ctx context.Context, tgt Target, url string) (string, string, error) {
	body, _ := json.Marshal(map[string]any{"url": url, "events": []string{"file.completed"}, "description": "bench"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tgt.API+"/v1/webhooks", bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tgt.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("subscribe: %s: %s", resp.Status, b)
	}
	var s struct{ ID, Secret string }
	if err := json.Unmarshal(b, &s); err != nil {
		return "", "", err
	}
	return s.ID, s.Secret, nil
}

func unsubscribe(ctx context.Context, tgt Target, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, tgt.API+"/v1/webhooks/"+id, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tgt.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("unsubscribe: %s", resp.Status)
	}
	return nil
}
