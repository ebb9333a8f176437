//go:build bench

// The benchmark suite: `make bench` runs it. It starts the whole pipeline
// on private ports with its own PostgreSQL, Redis, versitygw and clamd,
// measures it and writes docs/BENCHMARKS.md and docs/benchmarks.json. The
// build tag keeps it out of `go test ./...`: it is a measurement, not a
// test, and it takes minutes of both cores.
//
//	BENCH_QUICK=1   shorter phases, for trying the suite out
//	BENCH_OUT=dir   write the report there instead of docs/
//	BENCH_ONLY=a,b  run only these phases (memory, latency, efficiency, sweep, uploads,
//	                throughput, api, micro); the report then goes to
//	                BENCH_OUT only
//	BENCH_LOG=file  keep the stack's log there
//	BENCH_PROFILE=dir  the apps write their CPU profiles there when the
//	                stack stops (CPU_PROFILE_DIR), for go tool pprof
//	BENCH_DAPR_CONFIG=file  the sidecars' Dapr Configuration instead of
//	                components/config.yaml (experiments: tracing off)
package main

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/client"
	"github.com/intellidox/intellidox/internal/testenv"
)

// benchApps are the apps of dapr.yaml the suite runs. The Node.js example
// scanner is left out: it reports an informational engine that does not
// count for verdicts, and it would take CPU from the three that do.
var benchApps = []string{"api", "extractor", "scanner-clamav", "scanner-yara", "scanner-reputation"}

type phases struct {
	quick bool
}

func (p phases) d(full, quick time.Duration) time.Duration {
	if p.quick {
		return quick
	}
	return full
}

func (p phases) n(full, quick int) int {
	if p.quick {
		return quick
	}
	return full
}

func TestSuite(t *testing.T) {
	ph := phases{quick: os.Getenv("BENCH_QUICK") != ""}
	root := testenv.Root()
	out := os.Getenv("BENCH_OUT")
	if out == "" {
		out = filepath.Join(root, "docs")
	}
	began := time.Now()
	rep := &Report{Started: began.UTC().Truncate(time.Second), Machine: describeMachine(), Commit: gitCommit(root)}
	rep.Load = append(rep.Load, loadAvg("start"))
	rep.SpeedStart = cpuSpeed()
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()

	// Private infrastructure: nothing else on the machine shares it, and
	// every server's CPU can be attributed.
	pg := startPostgres(t)
	redis := testenv.Redis(t)
	clamd := testenv.StartClamd(t)
	env := map[string]string{
		"LOG_LEVEL":      "info", // the tests' debug level logs every event
		"RATE_LIMIT_RPS": "0",    // the per-key limit (100/s) would cap every step
		"CLAMD_ADDR":     clamd.Addr,
		// One PUT up to 2 GiB, as before uploads in parts: the memory
		// phase sends 1 GB that way, and the uploads phase compares both.
		"MULTIPART_THRESHOLD": "2147483648",
		// The sweep phase's bucket, protected for the suite's tenant.
		"PROTECTED_BUCKETS": `[{"bucket":"` + ProtectedBucket + `","tenant":"default"}]`,
	}
	if dir := os.Getenv("BENCH_PROFILE"); dir != "" {
		env["CPU_PROFILE_DIR"] = dir
	}
	st := testenv.StartStack(t, testenv.StackOptions{Env: env, Redis: redis, DatabaseURL: pg.db, Apps: benchApps,
		ConfigFile: os.Getenv("BENCH_DAPR_CONFIG")})
	tgt := Target{API: st.API, APIDapr: st.APIDapr, APIKey: st.APIKey, DaprToken: st.DaprToken}
	procs := stackProcs(t, st.Launched.Pids(), pg, redis, clamd.Addr, st.S3.Endpoint)
	daprd, _ := filepath.Glob(filepath.Join(root, "bin", "daprd"))
	rep.Machine.Daprd = firstOf(daprd, func(p string) string { return toolVersion(p, "--version") })
	rep.Machine.Clamd = toolVersion("clamd", "--version")
	rep.Machine.Yara = toolVersion("yara", "--version")
	rep.Machine.Redis = toolVersion("redis-server", "--version")
	rep.Machine.Postgres = toolVersion(filepath.Join(pg.bin, "postgres"), "--version")
	rep.Machine.Versitygw = toolVersion(filepath.Join(root, "bin", "versitygw"), "--version")
	rep.Stack = StackInfo{Apps: benchApps, Excluded: []string{"scanner-node-example (informational engine, not in ENGINES)"},
		Env: env, Infra: "private PostgreSQL (fsync on, as the shared server), Redis, versitygw and clamd started by the suite on free ports; " +
			"Dapr API token auth on; the load generator runs on the same machine"}
	t.Logf("stack up: api %s, %d processes watched", tgt.API, len(procs))

	c := tgt.Client()
	var err error
	// Warm up: connection pools, the sidecars' first subscriptions, the
	// scanners' first scans.
	for i := range 10 {
		if _, err := confirmToVerdict(ctx, c, randomContent(10<<10+i)); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}

	only := os.Getenv("BENCH_ONLY")
	if only != "" && os.Getenv("BENCH_OUT") == "" {
		t.Fatal("BENCH_ONLY needs BENCH_OUT: a partial run must not replace docs/BENCHMARKS.md")
	}
	phase := func(name string, fn func()) {
		if only != "" && !slices.Contains(strings.Split(only, ","), name) {
			return
		}
		l := loadAvg(name)
		began := time.Now()
		watched0 := CPUTicks(procs)
		busy0, total0, steal0 := cpuTotals()
		fn()
		secs := time.Since(began).Seconds()
		busy1, total1, steal1 := cpuTotals()
		watched := 0.0
		for _, v := range cpuPercent(watched0, CPUTicks(procs), secs) {
			watched += v
		}
		if total1 > total0 {
			machine := float64(busy1-busy0) / float64(total1-total0) * 100 * float64(runtime.NumCPU())
			l.OtherCPU = max(0, machine-watched)
			l.StealCPU = float64(steal1-steal0) / float64(total1-total0) * 100 * float64(runtime.NumCPU())
		}
		rep.Load = append(rep.Load, l)
		t.Logf("phase %s: %.0f s, load %.2f at its start, other processes %.0f %% of a core, stolen by the hypervisor %.0f %%",
			name, secs, l.One, l.OtherCPU, l.StealCPU)
	}

	phase("latency", func() {
		for _, l := range []struct {
			name  string
			size  int
			rate  float64
			count int
		}{
			{"1 KB", 1000, 20, ph.n(200, 40)},
			{"100 KB", 100_000, 20, ph.n(300, 60)},
			{"1 MB", 1_000_000, 5, ph.n(60, 15)},
			{"10 MB", 10_000_000, 0, ph.n(12, 4)},
		} {
			rep.Latency = append(rep.Latency, latencyRun(t, ctx, c, pg.db, st.LogPath, l.name, l.size, l.rate, l.count))
		}
	})
	phase("efficiency", func() {
		raw, err := newRawEngines(ctx, clamd.Addr, filepath.Join(root, "rules", "yara"),
			filepath.Join(root, "rules", "reputation", "known-bad.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		for _, e := range []struct {
			name  string
			size  int
			count int
		}{{"1 MB", 1_000_000, ph.n(15, 4)}, {"100 MB", 100_000_000, ph.n(5, 2)}} {
			row, lat := efficiencyRun(t, ctx, c, pg.db, st.LogPath, procs, raw, e.name, e.size, e.count)
			rep.Efficiency = append(rep.Efficiency, row)
			if e.size == 100_000_000 {
				rep.Latency = append(rep.Latency, lat)
			}
		}
		settleDisk(t, "efficiency") // 100 MB files: staged copies, clamd's temporary files
	})
	phase("throughput", func() { rep.Throughput = throughputRun(t, ctx, tgt, pg.db, procs, ph) })
	phase("webhooks", func() {
		w, err := newDoneWatcher(ctx, pg.db)
		if err != nil {
			t.Fatal(err)
		}
		conc := 8
		if steps := rep.Throughput.Steps; len(steps) > 0 {
			conc = steps[rep.Throughput.Best].Concurrency
		}
		if rep.Webhooks, err = webhookRun(ctx, tgt, w, conc, ph.n(2, 1), ph.d(3*time.Second, time.Second),
			ph.d(12*time.Second, 4*time.Second), t.Logf); err != nil {
			t.Fatalf("webhooks: %v", err)
		}
	})
	phase("api", func() { rep.API = apiRun(t, ctx, tgt, procs, ph) })
	phase("micro", func() { rep.Micro = microRun(t, ctx, root, clamd.Addr, ph) })
	phase("uploads", func() {
		if rep.Uploads, err = uploadsRun(ctx, tgt, t.TempDir(), int64(ph.n(1<<30, 128<<20)), t.Logf); err != nil {
			t.Fatalf("uploads: %v", err)
		}
		settleDisk(t, "uploads")
	})
	phase("sweep", func() {
		if rep.Sweep, err = sweepRun(ctx, tgt, testenv.S3Client(t, st.S3), pg.db, ph.n(2000, 300), 10<<10, 4, t.Logf); err != nil {
			t.Fatalf("sweep: %v", err)
		}
	})
	// Memory last: the 1 GB file leaves about 2 GB of writes behind
	// (versitygw's object, clamd's temporary copy), and the disk stays slow
	// for a while after them, which showed as commit stalls (1 KB p50 63 to
	// 152 ms) in the phases that followed. Idle RSS is measured just before.
	phase("memory", func() {
		if rep.Memory, err = memoryRun(ctx, tgt, procs, int64(ph.n(1_000_000_000, 200_000_000)), t.Logf); err != nil {
			t.Fatalf("memory: %v", err)
		}
		settleDisk(t, "memory")
	})

	if dst := os.Getenv("BENCH_LOG"); dst != "" {
		if b, err := os.ReadFile(st.LogPath); err == nil {
			_ = os.WriteFile(dst, b, 0o644)
		}
	}
	rep.Load = append(rep.Load, loadAvg("end"))
	rep.SpeedEnd = cpuSpeed()
	rep.Load[0].OtherCPU, rep.Load[len(rep.Load)-1].OtherCPU = -1, -1 // moments, not phases
	rep.Seconds = time.Since(began).Seconds()
	rep.Targets = judge(rep)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rep.writeJSON(filepath.Join(out, "benchmarks.json")); err != nil {
		t.Fatal(err)
	}
	if err := rep.writeMarkdown(filepath.Join(out, "BENCHMARKS.md")); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s and %s in %.0f s", filepath.Join(out, "BENCHMARKS.md"), filepath.Join(out, "benchmarks.json"), rep.Seconds)
	t.Log("\n" + rep.markdown())
}

// settleDisk writes back the dirty pages a phase with big files left, so
// that their writeback does not stall PostgreSQL's commits in the next one.
func settleDisk(t *testing.T, phase string) {
	dirty := meminfoKB("Dirty")
	began := time.Now()
	syscall.Sync()
	t.Logf("%s: wrote back %d MiB of dirty pages in %.1f s", phase, dirty>>10, time.Since(began).Seconds())
}

func firstOf(xs []string, f func(string) string) string {
	if len(xs) == 0 {
		return ""
	}
	return f(xs[0])
}

func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, _ := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		c += "+dirty"
	}
	return c
}

// postgres is the suite's private PostgreSQL server.
type postgres struct {
	dir, bin, db string
	port         int
}

// startPostgres initializes and starts a server with the defaults of the
// shared one (fsync and synchronous commit on), and creates the database.
func startPostgres(t *testing.T) *postgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL server binaries are not installed (run make infra)")
	}
	dir, err := os.MkdirTemp("", "bench-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg := &postgres{dir: dir, bin: filepath.Dir(bins[len(bins)-1]), port: testenv.FreePort(t)}
	as := func(name string, args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
		return exec.Command(name, args...)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := as(filepath.Join(pg.bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", pg.port, dir)
	if out, err := as(filepath.Join(pg.bin, "pg_ctl"), "-D", data, "-w", "-o", opts, "-l", filepath.Join(dir, "log"), "start").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = as(filepath.Join(pg.bin, "pg_ctl"), "-D", data, "stop", "-m", "immediate").Run() })
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	conn, err := pgx.Connect(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE intellidox"); err != nil {
		t.Fatal(err)
	}
	pg.db = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/intellidox?sslmode=disable", pg.port)
	return pg
}

func (pg *postgres) pid() int {
	b, err := os.ReadFile(filepath.Join(pg.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	n, _ := strconv.Atoi(strings.TrimSpace(line))
	return n
}

func portOf(addr string) int {
	if u, err := url.Parse(addr); err == nil && u.Port() != "" {
		addr = u.Host
	}
	i := strings.LastIndexByte(addr, ':')
	n, _ := strconv.Atoi(addr[i+1:])
	return n
}

// stackProcs lists every process of the run.
func stackProcs(t *testing.T, pids map[string]int, pg *postgres, redis, clamd, s3 string) []Proc {
	var out []Proc
	for _, name := range slices.Sorted(maps.Keys(pids)) {
		kind := "app"
		if strings.HasSuffix(name, ".daprd") {
			kind = "sidecar"
		}
		out = append(out, Proc{Name: name, Kind: kind, PID: pids[name]})
	}
	for _, p := range []Proc{
		{Name: "postgres", Kind: "infra", PID: pg.pid(), Tree: true},
		{Name: "redis", Kind: "infra", PID: PIDListening(portOf(redis))},
		{Name: "clamd", Kind: "infra", PID: PIDListening(portOf(clamd))},
		{Name: "versitygw", Kind: "infra", PID: PIDListening(portOf(s3))},
		{Name: "bench", Kind: "bench", PID: os.Getpid()},
	} {
		if p.PID == 0 {
			t.Fatalf("no process found for %s", p.Name)
		}
		out = append(out, p)
	}
	return out
}

func latencyRun(t *testing.T, ctx context.Context, c *client.Client, db, logPath, name string, size int, rate float64, n int) LatRow {
	var flows []flow
	var errs []error
	if rate > 0 {
		flows, errs = openLoop(ctx, rate, n, func(ctx context.Context, _ int) (flow, error) {
			return push(ctx, c, randomContent(size))
		})
	} else {
		for range n {
			f, err := push(ctx, c, randomContent(size))
			flows, errs = append(flows, f), append(errs, err)
		}
	}
	row := LatRow{Size: name, Bytes: size, Rate: rate}
	var ok []time.Duration
	var good []flow
	for i, err := range errs {
		if err != nil {
			row.Errors++
			t.Logf("latency %s: %v", name, err)
			continue
		}
		ok = append(ok, flows[i].Done.Sub(flows[i].Confirmed))
		good = append(good, flows[i])
	}
	row.Stats = summarize(ok)
	var err error
	if row.Phases, err = phaseBreakdown(ctx, db, good, extractionsFromLog(logPath)); err != nil {
		t.Errorf("latency %s: phases: %v", name, err)
	}
	t.Logf("latency %s at %v files/s: %+v, %d errors; phases p50: %v", name, rate, row.Stats, row.Errors, phaseP50(row.Phases))
	return row
}

func phaseP50(m map[string]Stats) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = v.P50
	}
	return out
}

func efficiencyRun(t *testing.T, ctx context.Context, c *client.Client, db, logPath string, procs []Proc, raw *rawEngines, name string, size, n int) (EffRow, LatRow) {
	row := EffRow{Size: name, Bytes: size, Engines: map[string]Stats{}, CPU: map[string]float64{}}
	var e2e []time.Duration
	engines := map[string][]time.Duration{}
	var flows []flow
	for range n {
		data := randomContent(size)
		before := CPUTicks(procs)
		f, err := push(ctx, c, data)
		if err != nil {
			t.Fatalf("efficiency %s: %v", name, err)
		}
		for k, v := range CPUTicks(procs) {
			row.CPU[k] += float64(v-before[k]) * 1000 / clockTicks / float64(n)
		}
		d := f.Done.Sub(f.Confirmed)
		flows = append(flows, f)
		times, err := raw.scanAll(ctx, data)
		if err != nil {
			t.Fatalf("efficiency %s: %v", name, err)
		}
		e2e = append(e2e, d)
		for k, v := range times {
			engines[k] = append(engines[k], v)
		}
		_, slow := slowest(times)
		row.Ratios = append(row.Ratios, float64(d)/float64(slow))
	}
	var err error
	if row.Phases, err = phaseBreakdown(ctx, db, flows, extractionsFromLog(logPath)); err != nil {
		t.Errorf("efficiency %s: phases: %v", name, err)
	}
	row.E2E = summarize(e2e)
	for k, v := range engines {
		row.Engines[k] = summarize(v)
	}
	med := map[string]time.Duration{}
	for k, v := range row.Engines {
		med[k] = time.Duration(v.P50 * float64(time.Millisecond))
	}
	row.Slowest, _ = slowest(med)
	r := slices.Clone(row.Ratios)
	slices.Sort(r)
	row.Ratio = r[len(r)/2]
	t.Logf("efficiency %s: e2e %+v, engines %+v, ratios %v, phases p50 %v, cpu ms per file %v", name, row.E2E, row.Engines, row.Ratios, phaseP50(row.Phases), roundMap(row.CPU))
	return row, LatRow{Size: name, Bytes: size, Stats: row.E2E, Phases: row.Phases}
}

func cpuPercent(before, after map[string]int64, secs float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		out[k] = float64(v-before[k]) / clockTicks / secs * 100
	}
	return out
}

func throughputRun(t *testing.T, ctx context.Context, tgt Target, db string, procs []Proc, ph phases) Throughput {
	w, err := newDoneWatcher(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	res := Throughput{Size: "10 KB"}
	warm, measure := ph.d(3*time.Second, time.Second), ph.d(12*time.Second, 4*time.Second)
	flat := 0
	for _, conc := range []int{1, 2, 4, 8, 16, 32, 64, 128} {
		if ctx.Err() != nil {
			break
		}
		var before, after map[string]int64
		var busy0, tot0, busy1, tot1 int64
		var load1 float64
		begin := time.Now()
		done := make(chan struct{})
		go func() { // sample the measurement window only
			time.Sleep(warm)
			before, busy0, tot0 = CPUTicks(procs), 0, 0
			busy0, tot0, _ = cpuTotals()
			time.Sleep(measure)
			after = CPUTicks(procs)
			busy1, tot1, _ = cpuTotals()
			load1 = loadAvg("").One
			close(done)
		}()
		flows := closedLoop(ctx, tgt, w, 10_000, conc, warm+measure)
		<-done
		from, to := begin.Add(warm), begin.Add(warm+measure)
		s := Step{Concurrency: conc, Seconds: measure.Seconds(), Load1: load1}
		var lat []time.Duration
		for _, f := range flows {
			if f.err != nil {
				if !f.confirmed.IsZero() && f.confirmed.Before(from) {
					continue
				}
				s.Errors++
				if s.Errors <= 3 {
					t.Logf("throughput %d: %v", conc, f.err)
				}
				continue
			}
			if !f.done.Before(from) && f.done.Before(to) {
				s.Files++
			}
			if !f.confirmed.Before(from) && f.confirmed.Before(to) {
				lat = append(lat, f.done.Sub(f.confirmed))
			}
		}
		s.PerSecond = float64(s.Files) / measure.Seconds()
		s.Latency = summarize(lat)
		s.CPU = cpuPercent(before, after, measure.Seconds())
		if tot1 > tot0 {
			s.MachineBusy = float64(busy1-busy0) / float64(tot1-tot0) * 100 * float64(runtime.NumCPU())
		}
		res.Steps = append(res.Steps, s)
		t.Logf("throughput %d in flight: %.1f files/s, p50 %.1f ms, p99 %.1f ms, %d errors, machine %.0f%%, cpu %v",
			conc, s.PerSecond, s.Latency.P50, s.Latency.P99, s.Errors, s.MachineBusy, roundMap(s.CPU))
		best := res.Steps[res.Best]
		if len(res.Steps) == 1 || s.PerSecond > best.PerSecond*1.05 {
			res.Best, flat = len(res.Steps)-1, 0
		} else {
			flat++
		}
		if flat >= 2 || s.Latency.P99 > 10000 {
			res.Saturated = true
			break
		}
		time.Sleep(ph.d(2*time.Second, 500*time.Millisecond))
	}
	res.Bottleneck = bottleneck(res)
	return res
}

func roundMap(m map[string]float64) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v >= 1 {
			out[k] = int(v + 0.5)
		}
	}
	return out
}

// bottleneck describes the step where throughput stopped growing.
func bottleneck(t Throughput) string {
	if len(t.Steps) == 0 {
		return ""
	}
	s := t.Steps[t.Best]
	names := slices.Collect(maps.Keys(s.CPU))
	slices.SortFunc(names, func(a, b string) int { return int(s.CPU[b]*100 - s.CPU[a]*100) })
	var top []string
	for _, n := range names[:min(5, len(names))] {
		top = append(top, fmt.Sprintf("%s %.0f %%", n, s.CPU[n]))
	}
	groups := map[string]float64{}
	total := 0.0
	for n, v := range s.CPU {
		total += v
		switch {
		case strings.HasSuffix(n, ".daprd"):
			groups["the five sidecars"] += v
		case slices.Contains([]string{"postgres", "redis", "clamd", "versitygw"}, n):
			groups[n] += v
		case n == "bench":
			groups["the load generator"] += v
		default:
			groups["the five apps"] += v
		}
	}
	gnames := slices.Collect(maps.Keys(groups))
	slices.SortFunc(gnames, func(a, b string) int { return int(groups[b]*100 - groups[a]*100) })
	var gs []string
	for _, g := range gnames {
		gs = append(gs, fmt.Sprintf("%s %.0f %%", g, groups[g]))
	}
	sat := "It did not saturate within the steps run."
	if t.Saturated {
		sat = fmt.Sprintf("Throughput stopped growing at %d files in flight (%.1f files/s).", s.Concurrency, s.PerSecond)
	}
	verdict := "none is near a full core, so what saturates first is the machine's CPU as a whole, shared by every process, not one process, Redis, PostgreSQL or clamd"
	if busiest := names[0]; s.CPU[busiest] >= 80 {
		verdict = fmt.Sprintf("%s is near a full core: it saturates first", busiest)
	}
	return fmt.Sprintf("%s At that step the machine's CPUs were %.0f %% busy (of %d00 %%, everything on the machine included) and the watched processes used %.0f %%: %s. "+
		"The busiest single processes: %s; %s.",
		sat, s.MachineBusy, runtime.NumCPU(), total, strings.Join(gs, ", "), strings.Join(top, ", "), verdict)
}

func apiRun(t *testing.T, ctx context.Context, tgt Target, procs []Proc, ph phases) APIResult {
	var res APIResult
	direct := tgt.API + "/v1/files"
	viaDapr := tgt.APIDapr + "/v1/files"
	d := ph.d(10*time.Second, 3*time.Second)
	conns := 32
	for _, r := range []struct {
		url, token string
		dst        *WrkResult
		cpu        *map[string]float64
	}{{direct, "", &res.WrkDirect, &res.CPUDirect}, {viaDapr, tgt.DaprToken, &res.WrkDapr, &res.CPUDapr}} {
		before := CPUTicks(procs)
		begin := time.Now()
		w, text, err := runWrk(ctx, r.url, tgt.APIKey, r.token, 2, conns, d)
		if err != nil {
			t.Fatal(err)
		}
		*r.cpu = cpuPercent(before, CPUTicks(procs), time.Since(begin).Seconds())
		*r.dst = w
		t.Logf("wrk %s:\n%s", r.url, text)
		time.Sleep(time.Second)
	}
	if res.WrkDirect.RPS > 0 {
		res.DaprShare = res.WrkDapr.RPS / res.WrkDirect.RPS
	}
	// The fixed rate both paths can carry: half the slower one's maximum.
	rate := float64(int(min(res.WrkDirect.RPS, res.WrkDapr.RPS)/2/10) * 10)
	rate = max(rate, 10)
	for _, r := range []struct {
		url string
		h   map[string]string
		dst *FixedRate
	}{{direct, nil, &res.Direct}, {viaDapr, map[string]string{"dapr-api-token": tgt.DaprToken}, &res.Dapr}} {
		h := make(map[string][]string)
		h["Authorization"] = []string{"Bearer " + tgt.APIKey}
		for k, v := range r.h {
			h[k] = []string{v}
		}
		stats, achieved, failed := fixedRate(ctx, r.url, h, rate, d)
		*r.dst = FixedRate{Offered: rate, Achieved: achieved, Stats: stats, Failed: failed}
		t.Logf("fixed rate %s at %.0f/s: achieved %.1f/s, %+v, %d failed", r.url, rate, achieved, stats, failed)
		time.Sleep(time.Second)
	}
	return res
}

// microRun runs the hot paths' Go benchmarks once each (make bench-micro
// runs them repeatedly, for benchstat).
func microRun(t *testing.T, ctx context.Context, root, clamd string, ph phases) []Micro {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1",
		"-benchtime", ph.d(time.Second, 100*time.Millisecond).String()}
	args = append(args, microPackages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CLAMD_ADDR="+clamd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("micro-benchmarks: %v\n%s", err, out)
	}
	return parseBench(string(out), "github.com/intellidox/intellidox/")
}

// microPackages hold the hot paths' benchmarks (the Makefile's bench-micro
// lists the same).
var microPackages = []string{"./internal/extract", "./internal/verdict", "./internal/contract", "./internal/scan/clamav"}
