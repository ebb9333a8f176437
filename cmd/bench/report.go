package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is one run of the suite: docs/benchmarks.json holds it as is, and
// docs/BENCHMARKS.md shows it.
type Report struct {
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Commit  string    `json:"commit"`
	Machine Machine   `json:"machine"`
	Load    []LoadAvg `json:"loadAverage"`
	// SpeedStart and SpeedEnd calibrate the CPU: one core's SHA-256 in MB/s
	// (the best of a few rounds). On a shared host it varies between runs,
	// and every CPU time here varies with it.
	SpeedStart float64       `json:"cpuSpeedStartMBps"`
	SpeedEnd   float64       `json:"cpuSpeedEndMBps"`
	Stack      StackInfo     `json:"stack"`
	Latency    []LatRow      `json:"latency"`
	Efficiency []EffRow      `json:"efficiency"`
	Throughput Throughput    `json:"throughput"`
	API        APIResult     `json:"api"`
	Webhooks   WebhookResult `json:"webhooks"`
	Memory     Memory        `json:"memory"`
	Uploads    Uploads       `json:"uploads"`
	Sweep      SweepBench    `json:"sweep"`
	Micro      []Micro       `json:"micro"`
	Targets    []Goal        `json:"targets"`
	Notes      []string      `json:"notes,omitempty"`
}

// StackInfo says what ran.
type StackInfo struct {
	Apps     []string          `json:"apps"`
	Excluded []string          `json:"excluded"`
	Env      map[string]string `json:"env"`
	Infra    string            `json:"infra"`
}

// LatRow is confirm → verdict for one file size.
type LatRow struct {
	Size   string  `json:"size"`
	Bytes  int     `json:"bytes"`
	Rate   float64 `json:"filesPerSecond"` // offered; 0 means one file at a time
	Stats  Stats   `json:"confirmToVerdict"`
	Errors int     `json:"errors"`
	// Phases break the time down as in EffRow.
	Phases map[string]Stats `json:"phases"`
}

// EffRow compares the pipeline with its slowest engine on the same files.
type EffRow struct {
	Size    string           `json:"size"`
	Bytes   int              `json:"bytes"`
	E2E     Stats            `json:"confirmToVerdict"`
	Engines map[string]Stats `json:"rawEngines"`
	Slowest string           `json:"slowestEngine"`
	// Phases break the pipeline's time down, from each engine's result
	// (its scannedAt and durationMs): confirm → an engine starts, the
	// engine in the pipeline (object download included), and last result
	// → verdict event.
	Phases map[string]Stats `json:"phases"`
	Ratios []float64        `json:"ratios"` // per file: end to end / slowest engine on that file
	Ratio  float64          `json:"ratioMedian"`
	// CPU is each process's CPU time per file, in ms, from upload to
	// verdict (the PUT included).
	CPU map[string]float64 `json:"cpuMsPerFile"`
}

// Step is one concurrency level of the throughput test.
type Step struct {
	Concurrency int                `json:"concurrency"`
	Seconds     float64            `json:"seconds"`
	Files       int                `json:"files"`
	PerSecond   float64            `json:"filesPerSecond"`
	Latency     Stats              `json:"confirmToVerdict"`
	Errors      int                `json:"errors"`
	CPU         map[string]float64 `json:"cpuPercentOfOneCore"`
	MachineBusy float64            `json:"machineBusyPercent"` // of all cores
	Load1       float64            `json:"load1"`
}

// Throughput is the closed-loop test with small files.
type Throughput struct {
	Size       string `json:"size"`
	Steps      []Step `json:"steps"`
	Best       int    `json:"bestStep"` // index into Steps
	Saturated  bool   `json:"saturated"`
	Bottleneck string `json:"bottleneck"`
}

// FixedRate is POST /v1/files at a fixed offered rate.
type FixedRate struct {
	Offered  float64 `json:"offeredPerSecond"`
	Achieved float64 `json:"achievedPerSecond"`
	Stats    Stats   `json:"latency"`
	Failed   int     `json:"failed"`
}

// APIResult compares POST /v1/files direct and through Dapr.
type APIResult struct {
	Direct    FixedRate          `json:"direct"`
	Dapr      FixedRate          `json:"dapr"`
	WrkDirect WrkResult          `json:"wrkDirect"`
	WrkDapr   WrkResult          `json:"wrkDapr"`
	DaprShare float64            `json:"daprShareOfDirect"` // max throughput, Dapr / direct
	CPUDirect map[string]float64 `json:"cpuDirect"`
	CPUDapr   map[string]float64 `json:"cpuDapr"`
}

// MemRow is one process during the 1 GB run.
type MemRow struct {
	Name    string  `json:"name"`
	Kind    string  `json:"kind"`
	IdleMiB float64 `json:"idleMiB"`
	PeakMiB float64 `json:"peakMiB"`
	Delta   float64 `json:"deltaMiB"`
	// CPU is the CPU time the process used from the upload to the
	// verdict, in seconds: the cost of the file's bytes (docs/deploy-aws.md,
	// the cost model).
	CPU float64 `json:"cpuSeconds"`
}

// Memory is the 1 GB run.
type Memory struct {
	Bytes   int64    `json:"bytes"`
	Seconds float64  `json:"confirmToVerdictSeconds"`
	Upload  float64  `json:"uploadSeconds"`
	Verdict string   `json:"verdict"`
	Engines []string `json:"engines"`
	Procs   []MemRow `json:"processes"`
}

// Micro is one Go benchmark result.
type Micro struct {
	Name     string  `json:"name"`
	NsPerOp  float64 `json:"nsPerOp"`
	MBPerSec float64 `json:"mbPerSec,omitempty"`
	BPerOp   float64 `json:"bytesPerOp"`
	Allocs   float64 `json:"allocsPerOp"`
}

// Goal is one target of the issue and how the run did.
type Goal struct {
	Name     string `json:"name"`
	Want     string `json:"goal"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

const (
	beginMark = "<!-- bench:begin (generated by make bench; edit outside these marks) -->"
	endMark   = "<!-- bench:end -->"
)

// writeMarkdown replaces the generated part of path (between the marks),
// keeping the hand-written analysis around it.
func (r *Report) writeMarkdown(path string) error {
	old, _ := os.ReadFile(path)
	gen := beginMark + "\n" + r.markdown() + endMark
	var doc string
	s := string(old)
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	switch {
	case i >= 0 && j > i:
		doc = s[:i] + gen + s[j+len(endMark):]
	case len(s) > 0:
		doc = strings.TrimRight(s, "\n") + "\n\n" + gen + "\n"
	default:
		doc = "# Benchmarks\n\n" + gen + "\n"
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func msCell(v float64) string {
	switch {
	case v >= 10000:
		return f1(v/1000) + " s"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
	}
	return f1(v) + " ms"
}

func yes(b bool) string {
	if b {
		return "**met**"
	}
	return "**missed**"
}

func (r *Report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	p("\n_Run of %s, commit `%s`, %.0f s._\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Commit, r.Seconds)

	p("### Targets\n\n| target | goal | measured | |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		p("| %s | %s | %s | %s |\n", t.Name, t.Want, t.Measured, yes(t.Met))
	}

	p("\n### Machine\n\n| | |\n|---|---|\n")
	p("| CPU | %s, %d cores |\n| RAM | %d MiB |\n| kernel | %s (%s) |\n| Go | %s |\n", m.CPU, m.Cores, m.RAMMiB, m.Kernel, m.OS, m.Go)
	for _, kv := range [][2]string{{"daprd", m.Daprd}, {"clamd", m.Clamd}, {"yara", m.Yara}, {"redis", m.Redis},
		{"PostgreSQL", m.Postgres}, {"versitygw", m.Versitygw}} {
		if kv[1] != "" {
			p("| %s | %s |\n", kv[0], kv[1])
		}
	}
	var loads, others, steals []string
	maxOther, other := 0.0, ""
	maxSteal, stolen := 0.0, ""
	for _, l := range r.Load {
		loads = append(loads, fmt.Sprintf("%s %.2f", l.Phase, l.One))
		if l.OtherCPU >= 0 && l.Phase != "start" && l.Phase != "end" {
			others = append(others, fmt.Sprintf("%s %.0f %%", l.Phase, l.OtherCPU))
			steals = append(steals, fmt.Sprintf("%s %.0f %%", l.Phase, l.StealCPU))
			if l.OtherCPU > maxOther {
				maxOther, other = l.OtherCPU, l.Phase
			}
			if l.StealCPU > maxSteal {
				maxSteal, stolen = l.StealCPU, l.Phase
			}
		}
	}
	p("| CPU speed: one core's SHA-256, at the start and the end | %.0f and %.0f MB/s |\n", r.SpeedStart, r.SpeedEnd)
	p("| load average (1 min) when each phase began | %s |\n", strings.Join(loads, ", "))
	p("| CPU used by other processes during each phase (%% of one core) | %s |\n", strings.Join(others, ", "))
	p("| CPU stolen by the hypervisor during each phase (%% of one core) | %s |\n", strings.Join(steals, ", "))
	p("\nStack: %s beside their sidecars (excluded: %s); %s.\n", strings.Join(r.Stack.Apps, ", "),
		strings.Join(r.Stack.Excluded, ", "), r.Stack.Infra)
	p("\nThe load average counts the stack's own threads too: the throughput and API phases raise it by themselves. " +
		"The CPU of the other processes is the measure of interference.\n")
	if maxOther > 25 {
		p("\n**The machine was shared: other work took up to %.0f %% of a core (during the %s phase)**; those numbers are lower bounds on what an idle machine does.\n", maxOther, other)
	}
	if maxSteal > 10 {
		p("\n**The host was shared: the hypervisor gave up to %.0f %% of a core of this VM to other guests (during the %s phase)**; the numbers of that phase are lower bounds.\n", maxSteal, stolen)
	}

	p("\n### Latency: confirm → final verdict (event stream)\n\n| size | offered load | n | p50 | p90 | p99 | max | errors |\n|---|---|---|---|---|---|---|---|\n")
	for _, l := range r.Latency {
		load := "one at a time"
		if l.Rate > 0 {
			load = f1(l.Rate) + " files/s"
		}
		p("| %s | %s | %d | %s | %s | %s | %s | %d |\n", l.Size, load, l.Stats.N, msCell(l.Stats.P50), msCell(l.Stats.P90),
			msCell(l.Stats.P99), msCell(l.Stats.Max), l.Errors)
	}

	if len(r.Latency) > 0 {
		keys := map[string]bool{}
		for _, l := range r.Latency {
			for k := range l.Phases {
				keys[k] = true
			}
		}
		p("\nWhere the time goes, p50 of each phase: the extractor's times come from its log, the engines' from their results (`scannedAt`, `durationMs`; an engine's time includes reading the object from storage). Phases overlap (the engines run in parallel), so they do not add up to the total.\n\n| phase |")
		for _, l := range r.Latency {
			p(" %s |", l.Size)
		}
		p("\n|---|%s\n", strings.Repeat("---|", len(r.Latency)))
		order := []string{"confirm → extractor starts", "extractor (presign, read, analyze, publish)"}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if strings.HasPrefix(k, "confirm → ") && !slices.Contains(order, k) {
				order = append(order, k)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if strings.HasSuffix(k, " in the pipeline") {
				order = append(order, k)
			}
		}
		order = append(order, "last result → verdict event")
		for _, k := range order {
			if !keys[k] {
				continue
			}
			p("| %s |", k)
			for _, l := range r.Latency {
				if st, ok := l.Phases[k]; ok {
					p(" %s |", msCell(st.P50))
				} else {
					p(" |")
				}
			}
			p("\n")
		}
	}

	t := r.Throughput
	p("\n### Throughput: %s files, all engines, closed loop\n\n", t.Size)
	procs := cpuColumns(t.Steps)
	p("| in flight | files/s | p50 | p99 | errors | machine busy | load1 | %s |\n|---|---|---|---|---|---|---|%s\n",
		strings.Join(procs, " | "), strings.Repeat("---|", len(procs)))
	for _, s := range t.Steps {
		var cells []string
		for _, n := range procs {
			cells = append(cells, strconv.FormatFloat(s.CPU[n], 'f', 0, 64))
		}
		p("| %d | %s | %s | %s | %d | %s %% | %.2f | %s |\n", s.Concurrency, f1(s.PerSecond), msCell(s.Latency.P50),
			msCell(s.Latency.P99), s.Errors, strconv.FormatFloat(s.MachineBusy, 'f', 0, 64), s.Load1, strings.Join(cells, " | "))
	}
	p("\nCPU columns are percent of one core (utime+stime from /proc, children included), over each step; the busiest processes are shown, all of them are in the JSON. %s\n", t.Bottleneck)
	if len(t.Steps) > 0 && t.Steps[t.Best].PerSecond > 0 {
		s := t.Steps[t.Best]
		names := slices.Collect(maps.Keys(s.CPU))
		slices.SortFunc(names, func(a, b string) int { return int(s.CPU[b]*100 - s.CPU[a]*100) })
		p("\nCPU time per file at %d in flight (ms of CPU per file, = %% of a core × 10 / files per second):\n\n| process | CPU per file |\n|---|---|\n", s.Concurrency)
		total := 0.0
		for _, n := range names {
			per := s.CPU[n] * 10 / s.PerSecond
			total += per
			if s.CPU[n] >= 1 {
				p("| %s | %s ms |\n", n, f2(per))
			}
		}
		p("| **all watched processes** | **%s ms** |\n", f2(total))
	}

	p("\n### Efficiency: end to end against the slowest engine alone\n\n| size | n | confirm → verdict p50 | clamav raw p50 | yara raw p50 | reputation raw p50 | slowest | ratio (median) |\n|---|---|---|---|---|---|---|---|\n")
	for _, e := range r.Efficiency {
		p("| %s | %d | %s | %s | %s | %s | %s | **%s** |\n", e.Size, e.E2E.N, msCell(e.E2E.P50), msCell(e.Engines["clamav"].P50),
			msCell(e.Engines["yara"].P50), fmt.Sprintf("%.3f ms", e.Engines["reputation"].P50), e.Slowest, f2(e.Ratio))
	}

	a := r.API
	p("\n### API: POST /v1/files, direct and through Dapr service invocation\n\n")
	p("| path | fixed rate offered | achieved | p50 | p99 | failed | max (wrk, %d conns) | wrk p50 | wrk p99 |\n|---|---|---|---|---|---|---|---|---|\n", a.WrkDirect.Connections)
	for _, row := range []struct {
		name string
		f    FixedRate
		w    WrkResult
	}{{"direct", a.Direct, a.WrkDirect}, {"Dapr (api sidecar)", a.Dapr, a.WrkDapr}} {
		p("| %s | %s/s | %s/s | %s | %s | %d | %s/s | %s | %s |\n", row.name, f1(row.f.Offered), f1(row.f.Achieved),
			msCell(row.f.Stats.P50), msCell(row.f.Stats.P99), row.f.Failed, f1(row.w.RPS), msCell(row.w.P50), msCell(row.w.P99))
	}
	p("\nDapr-invoked maximum throughput is **%.0f %%** of direct.\n", a.DaprShare*100)

	if u := r.Uploads; u.Bytes > 0 {
		p("\n### Uploads: one PUT or in parts\n\n")
		p("%s sent to the stack's versitygw from a file in the page cache, already hashed: create, the bytes, confirm (which joins the parts). "+
			"Each file's verdict is awaited before the next, so the pipeline does not overlap the other transfer (docs/uploads.md).\n\n", mib(u.Bytes))
		p("| | seconds | MB/s |\n|---|---|---|\n")
		p("| one PUT | %.1f | %.0f |\n", u.SingleSeconds, u.Single)
		p("| %s parts, %d at a time | %.1f | %.0f |\n", mib(u.PartSize), u.Parallel, u.PartsSeconds, u.Parts)
	}
	if sw := r.Sweep; sw.Objects > 0 {
		p("\n### Sweeps: objects already in a protected bucket\n\n")
		p("%d objects of %d KB, fresh contents, written with the AWS SDK under one prefix of the stack's versitygw, then "+
			"`POST /v1/admin/sweeps`: listed in pages of 1,000, each read once to hash it (%d at a time, DISCOVERY_WORKERS), "+
			"copied into the upload bucket and confirmed; then scanned by the pipeline (docs/storage-events.md).\n\n",
			sw.Objects, sw.Size>>10, sw.Workers)
		p("| | seconds | objects/s |\n|---|---|---|\n")
		p("| swept (listed, read, copied, confirmed) | %.1f | %.0f |\n", sw.SweptSeconds, sw.SweptPerSec)
		p("| judged (the last verdict) | %.1f | %.0f |\n", sw.JudgedSeconds, sw.JudgedPerSec)
	}
	if wh := r.Webhooks; wh.Off > 0 {
		p("\n### Webhooks: verdict → delivery, and the pipeline with and without a subscription\n\n")
		p("%d files in flight (10 KB), %d rounds of %.0f s each way, alternating. A receiver on this machine verifies every "+
			"signature (%d failed) and takes the arrival time minus the payload's `scannedAt`.\n\n", wh.Concurrency, wh.Rounds, wh.Seconds, wh.Unverified)
		p("| | files/s | verdict → webhook p50 | p90 | p99 | max | deliveries |\n|---|---|---|---|---|---|---|\n")
		p("| no subscription | %s | | | | | |\n", f1(wh.Off))
		p("| one subscription (file.completed) | %s (%+.1f %%) | %s | %s | %s | %s | %d |\n", f1(wh.On), wh.Change,
			msCell(wh.Latency.P50), msCell(wh.Latency.P90), msCell(wh.Latency.P99), msCell(wh.Latency.Max), wh.Latency.N)
		p("\nOf that, queued → delivered (the dispatcher and the receiver): p50 %s, p99 %s; the rest is the file event's way "+
			"to the api (outbox, pub/sub) and the verdict tags written before the delivery is queued.\n", msCell(wh.Queued.P50), msCell(wh.Queued.P99))
	}

	mm := r.Memory
	p("\n### Memory: a %.2f GB file (verdict %s, confirm → verdict %.1f s)\n\n| process | idle RSS | peak RSS | peak − idle | CPU, upload to verdict |\n|---|---|---|---|---|\n",
		float64(mm.Bytes)/1e9, mm.Verdict, mm.Seconds)
	cpu := 0.0
	for _, row := range mm.Procs {
		p("| %s | %s MiB | %s MiB | %s MiB | %.2f s |\n", row.Name, f1(row.IdleMiB), f1(row.PeakMiB), f1(row.Delta), row.CPU)
		cpu += row.CPU
	}
	p("| **all** | | | | **%.2f s** |\n", cpu)
	if len(mm.Engines) > 0 {
		p("\nEngines on that file: %s.\n", strings.Join(mm.Engines, "; "))
	}

	p("\n### Go micro-benchmarks (one run each; compare runs with benchstat)\n\n| benchmark | time/op | throughput | B/op | allocs/op |\n|---|---|---|---|---|\n")
	for _, mb := range r.Micro {
		thr := ""
		if mb.MBPerSec > 0 {
			thr = strconv.FormatFloat(mb.MBPerSec, 'f', 0, 64) + " MB/s"
		}
		p("| %s | %s | %s | %.0f | %.0f |\n", mb.Name, nsCell(mb.NsPerOp), thr, mb.BPerOp, mb.Allocs)
	}
	for _, n := range r.Notes {
		p("\n%s\n", n)
	}
	return b.String()
}

func nsCell(ns float64) string {
	switch {
	case ns >= 1e9:
		return f2(ns/1e9) + " s"
	case ns >= 1e6:
		return f2(ns/1e6) + " ms"
	case ns >= 1e3:
		return f2(ns/1e3) + " µs"
	}
	return f1(ns) + " ns"
}

// cpuColumns picks the processes worth a column: the busiest at any step.
func cpuColumns(steps []Step) []string {
	peak := map[string]float64{}
	for _, s := range steps {
		for n, v := range s.CPU {
			peak[n] = max(peak[n], v)
		}
	}
	names := slices.Collect(maps.Keys(peak))
	slices.SortFunc(names, func(a, b string) int { return int(peak[b]*100 - peak[a]*100) })
	var out []string
	for _, n := range names {
		if len(out) < 9 && peak[n] >= 3 {
			out = append(out, n)
		}
	}
	return out
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseBench reads `go test -bench` output.
func parseBench(out string, pkgPrefix string) []Micro {
	var res []Micro
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(v, pkgPrefix)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		mb := Micro{Name: pkg + " " + strings.TrimPrefix(m[1], "Benchmark")}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseFloat(f[i], 64)
			switch f[i+1] {
			case "ns/op":
				mb.NsPerOp = v
			case "MB/s":
				mb.MBPerSec = v
			case "B/op":
				mb.BPerOp = v
			case "allocs/op":
				mb.Allocs = v
			}
		}
		res = append(res, mb)
	}
	return res
}

// judge checks the run against the targets.
func judge(r *Report) []Goal {
	var out []Goal
	for _, l := range r.Latency {
		if l.Size == "100 KB" {
			out = append(out, Goal{Name: "latency, 100 KB at " + f1(l.Rate) + " files/s", Want: "p50 ≤ 30 ms, p99 ≤ 150 ms",
				Measured: fmt.Sprintf("p50 %s, p99 %s", msCell(l.Stats.P50), msCell(l.Stats.P99)),
				Met:      l.Stats.N > 0 && l.Stats.P50 <= 30 && l.Stats.P99 <= 150})
		}
	}
	if len(r.Throughput.Steps) > 0 {
		b := r.Throughput.Steps[r.Throughput.Best]
		out = append(out, Goal{Name: "throughput, 10 KB, three engines", Want: "≥ 150 files/s",
			Measured: fmt.Sprintf("%s files/s (%d in flight, p99 %s)", f1(b.PerSecond), b.Concurrency, msCell(b.Latency.P99)),
			Met:      b.PerSecond >= 150})
	}
	for _, e := range r.Efficiency {
		if e.Size == "100 MB" {
			out = append(out, Goal{Name: "efficiency, 100 MB", Want: "end to end / slowest engine ≤ 1.25",
				Measured: fmt.Sprintf("%s (%s vs %s %s)", f2(e.Ratio), msCell(e.E2E.P50), e.Slowest, msCell(e.Engines[e.Slowest].P50)),
				Met:      e.Ratio > 0 && e.Ratio <= 1.25})
		}
	}
	if len(r.Memory.Procs) > 0 {
		var app, car MemRow
		for _, p := range r.Memory.Procs {
			switch {
			case p.Kind == "app" && p.Delta > app.Delta:
				app = p
			case p.Kind == "sidecar" && p.Delta > car.Delta:
				car = p
			}
		}
		out = append(out, Goal{Name: "memory, 1 GB file", Want: "no app > 64 MB above idle",
			Measured: fmt.Sprintf("largest: %s +%s MiB (sidecars: %s +%s MiB)", app.Name, f1(app.Delta), car.Name, f1(car.Delta)),
			Met:      app.Delta <= 64*1e6/(1<<20)})
	}
	if wh := r.Webhooks; wh.Off > 0 {
		out = append(out, Goal{Name: "throughput with webhooks on", Want: "≥ 95 % of throughput without",
			Measured: fmt.Sprintf("%+.1f %% (%s vs %s files/s; verdict → webhook p50 %s, p99 %s)", wh.Change, f1(wh.On), f1(wh.Off),
				msCell(wh.Latency.P50), msCell(wh.Latency.P99)),
			Met: wh.Change >= -5 && wh.Latency.N > 0 && wh.Unverified == 0})
	}
	if r.API.WrkDirect.RPS > 0 {
		out = append(out, Goal{Name: "API through Dapr", Want: "≥ 50 % of direct throughput",
			Measured: fmt.Sprintf("%.0f %% (%s vs %s requests/s)", r.API.DaprShare*100, f1(r.API.WrkDapr.RPS), f1(r.API.WrkDirect.RPS)),
			Met:      r.API.DaprShare >= 0.5})
	}
	return out
}
