// Package chaos pushes files through the whole local stack while something
// breaks, then checks that every confirmed file finished with the correct
// verdict and that nothing was duplicated or contradicted. docs/chaos.md
// describes each test and the latest full-size numbers.
//
// By default (every `go test ./...`) each test pushes 50 files through one
// fault of its kind. `make chaos` runs the full size:
//
//	CHAOS_N=200 go test -run Chaos -count=1 -timeout 60m -v ./e2e/chaos
//
// CHAOS_N, CHAOS_ROUNDS, CHAOS_FLOW, CHAOS_DRAIN, CHAOS_SEED and
// CHAOS_REPORT tune a run (see config).
package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestChaosKillWorkers kills the extractor and each scanner (every app of
// dapr.yaml but the api), with their sidecars, with SIGKILL at random moments while files flow, and starts
// them again after a random pause. Each round kills every worker once, in
// a random order.
func TestChaosKillWorkers(t *testing.T) {
	cfg := loadConfig(t)
	r := newRun(t, cfg, "kill workers", testenv.StackOptions{})
	var workers []string            // every app of dapr.yaml but the api: the extractor and each scanner
	waitsFor := map[string]string{} // app → what it does, for inflight
	for _, a := range r.stack.Launched.RunFile().Apps {
		if a.AppID != "api" {
			workers = append(workers, a.AppID)
			waitsFor[a.AppID] = a.Env["SCANNER_ENGINE"]
		}
	}
	waitsFor["extractor"] = "extractor"
	var plan []string
	for range cfg.rounds {
		order := slices.Clone(workers)
		r.rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		plan = append(plan, order...)
	}
	moments := r.moments(len(plan))
	r.startPush()
	for i, app := range plan {
		r.at(moments[i])
		processing, waiting, ids := r.ready(waitsFor[app])
		killed := time.Now()
		r.stack.Launched.Kill(app, true)
		fault := fmt.Sprintf("kill -9 %s at t+%.1fs", app, killed.Sub(r.start).Seconds())
		hit := r.struck(fault, ids, killed)
		down := r.pause(500*time.Millisecond, 3*time.Second)
		r.restart(app)
		r.injected(killed, "kill -9 %s and its sidecar (%d uploads processing, %d waiting for it, %d of them unfinished when it died), down %s",
			app, processing, waiting, hit, down.Round(time.Millisecond))
	}
	r.finish(time.Now(), nil)
}

// restart starts app and its sidecar again and waits until they are
// healthy. If one exits at once (another process took one of its fixed
// ports while it was down, which a busy machine's outgoing connections can
// do), it tries again a few times.
func (r *run) restart(app string) {
	t := r.t
	t.Helper()
	for n := 1; ; n++ {
		require.NoError(t, r.stack.Launched.StartApp(app))
		err := r.stack.Launched.WaitHealthy(r.ctx, app, 2*time.Minute)
		if err == nil {
			return
		}
		if n == 3 || !strings.Contains(err.Error(), "exited") {
			t.Fatalf("%s did not come back: %v", app, err)
		}
		t.Logf("%s did not come back (%v); starting it again", app, err)
		r.stack.Launched.Kill(app, true)
		r.pause(time.Second, time.Second)
	}
}

// TestChaosRedisRestart crashes Redis (SIGKILL) mid-run and starts it again
// on the same port. Redis runs with its append-only file fsynced on every
// write, so every stream, consumer group and stored result it acknowledged
// survives; the sidecars must reconnect by themselves.
func TestChaosRedisRestart(t *testing.T) {
	cfg := loadConfig(t)
	redis := testenv.RedisWithAOF(t)
	r := newRun(t, cfg, "redis restart", testenv.StackOptions{Redis: redis.Addr})
	moments := r.moments(cfg.rounds)
	r.startPush()
	for _, m := range moments {
		r.at(m)
		processing, _, ids := r.ready("")
		killed := time.Now()
		redis.Kill(t)
		hit := r.struck(fmt.Sprintf("kill -9 redis at t+%.1fs", killed.Sub(r.start).Seconds()), ids, killed)
		down := r.pause(2*time.Second, 5*time.Second)
		redis.Start(t)
		r.injected(killed, "kill -9 redis, restarted from its AOF after %s (%d uploads processing, %d unfinished when it died)",
			down.Round(time.Millisecond), processing, hit)
	}
	r.finish(time.Now(), nil)
}

// TestChaosPostgresOutage stops PostgreSQL (immediate shutdown) for 10 s
// mid-run. Meanwhile the api must answer 503 problem+json with code
// database_unavailable; afterwards it must recover by itself.
func TestChaosPostgresOutage(t *testing.T) {
	cfg := loadConfig(t)
	pg := testenv.StartPostgres(t)
	r := newRun(t, cfg, "postgres outage", testenv.StackOptions{DatabaseURL: pg.Database(t, "intellidox")})
	moments := r.moments(cfg.rounds)
	r.startPush()
	probes := map[string]int{}
	var recoveries []string
	for _, m := range moments {
		r.at(m)
		processing, _, ids := r.ready("")
		known := r.confirmedID()
		stopped := time.Now()
		pg.Stop(t)
		for time.Since(stopped) < 10*time.Second {
			r.probeOutage(known, probes)
			select {
			case <-time.After(200 * time.Millisecond): // probe pace
			case <-r.ctx.Done():
			}
		}
		pg.Start(t)
		down := time.Since(stopped)
		rec := r.waitRecovered(known, time.Minute)
		recoveries = append(recoveries, rec.Round(time.Millisecond).String())
		// Nothing changes in a stopped database: an upload processing
		// before the stop and finished (updated) after it was unfinished
		// throughout.
		hit := r.struck(fmt.Sprintf("postgresql stop at t+%.1fs", stopped.Sub(r.start).Seconds()), ids, stopped)
		r.injected(stopped, "pg_ctl stop -m immediate (%d uploads processing, %d unfinished through it), started again after %s; the api served again %s later",
			processing, hit, down.Round(time.Millisecond), rec.Round(time.Millisecond))
	}
	assert.Positive(t, probes["503 database_unavailable"], "the api must answer 503 database_unavailable during the outage")
	for k, n := range probes {
		if !strings.HasPrefix(k, "503 ") {
			t.Errorf("during the outage the api answered %s %d times; want 503 problem+json", k, n)
		}
	}
	r.finish(time.Now(), map[string]any{"outageProbes": probes, "recoveredAfter": recoveries})
}

// confirmedID returns the id of a file already confirmed, or an id that
// exists nowhere (its lookup needs the database all the same).
func (r *run) confirmedID() string {
	r.up.mu.Lock()
	defer r.up.mu.Unlock()
	if len(r.up.confirmed) > 0 {
		return r.up.confirmed[0]
	}
	return "00000000-0000-4000-8000-000000000000"
}

// probeOutage calls the api while the database is down and counts the
// answers by status and problem code: a read, a create and readiness.
func (r *run) probeOutage(known string, counts map[string]int) {
	body := `{"name":"probe.txt","size":5,"sha256":"` + strings.Repeat("ab", 32) + `"}`
	for _, req := range []struct{ method, path, body, want string }{
		{http.MethodGet, "/v1/files/" + known, "", "database_unavailable"},
		{http.MethodPost, "/v1/files", body, "database_unavailable"},
		{http.MethodGet, "/readyz", "", "not_ready"},
	} {
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		hr, _ := http.NewRequestWithContext(ctx, req.method, r.stack.API+req.path, strings.NewReader(req.body))
		hr.Header.Set("Authorization", "Bearer "+r.stack.APIKey)
		if req.body != "" {
			hr.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			cancel()
			counts["transport error"]++
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		var p problem.Body
		_ = json.Unmarshal(b, &p)
		key := http.StatusText(resp.StatusCode)
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable &&
			resp.Header.Get("Content-Type") == "application/problem+json" && p.Code == req.want && p.Status == 503:
			key = "503 " + p.Code
		default:
			key = resp.Status + " " + resp.Header.Get("Content-Type") + " " + p.Code + " on " + req.method + " " + req.path
		}
		counts[key]++
	}
}

// waitRecovered polls until the api serves reads and reports ready again,
// and returns how long that took.
func (r *run) waitRecovered(known string, limit time.Duration) time.Duration {
	start := time.Now()
	for {
		ok := true
		for _, path := range []string{"/readyz", "/v1/files/" + known} {
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.stack.API+path, nil)
			req.Header.Set("Authorization", "Bearer "+r.stack.APIKey)
			resp, err := http.DefaultClient.Do(req)
			cancel()
			if err != nil {
				ok = false
				break
			}
			resp.Body.Close()
			// An unknown id is a 404 once the database answers.
			if resp.StatusCode != http.StatusOK && !(resp.StatusCode == http.StatusNotFound && path != "/readyz") {
				ok = false
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			r.t.Fatalf("the api did not recover within %s after postgresql came back", limit)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-r.ctx.Done():
			r.t.Fatal(r.ctx.Err())
		}
	}
}

// TestChaosClamdStop runs the stack against a private clamd and kills it
// (SIGKILL) while clamav scans are in flight, then starts it again after a
// few seconds. Scans cut off must be retried, never recorded as a verdict.
func TestChaosClamdStop(t *testing.T) {
	cfg := loadConfig(t)
	clamd := testenv.StartClamd(t)
	r := newRun(t, cfg, "clamd stop", testenv.StackOptions{Env: map[string]string{"CLAMD_ADDR": clamd.Addr}})
	moments := r.moments(cfg.rounds)
	r.startPush()
	for _, m := range moments {
		r.at(m)
		processing, waiting, ids := r.ready("clamav")
		killed := time.Now()
		clamd.Kill(t)
		hit := r.struck(fmt.Sprintf("kill -9 clamd at t+%.1fs", killed.Sub(r.start).Seconds()), ids, killed)
		down := r.pause(3*time.Second, 6*time.Second)
		clamd.Start(t)
		r.injected(killed, "kill -9 clamd (%d uploads processing, %d waiting for clamav, %d unfinished when it died), restarted after %s",
			processing, waiting, hit, down.Round(time.Millisecond))
	}
	r.finish(time.Now(), nil)
}
