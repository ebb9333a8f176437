package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/intellidox/intellidox/internal/scan"
)

// runKey is what a scan result is cached under: content, engine and the
// engine's signatures.
type runKey struct{ sha, engine, sigs string }

// engineRuns is what the scanners logged (internal/scan): the start of
// every real engine execution and every result they stored, per key. The
// stack's log outlives the processes a test kills, so it sees every run.
type engineRuns struct {
	runs   map[runKey][]time.Time
	stored map[runKey][]time.Time
}

// readEngineRuns reads the launcher's log: "app | {json}" lines.
func readEngineRuns(r io.Reader) (engineRuns, error) {
	e := engineRuns{runs: map[runKey][]time.Time{}, stored: map[runKey][]time.Time{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, " | {")
		if i < 0 || !strings.Contains(line, `"msg":"`+scan.LogEngineRun+`"`) && !strings.Contains(line, `"msg":"`+scan.LogResultStored+`"`) {
			continue
		}
		var l struct {
			Msg       string    `json:"msg"`
			SHA256    string    `json:"sha256"`
			Engine    string    `json:"engine"`
			Sigs      string    `json:"signature_version"`
			StartedAt time.Time `json:"started_at"`
			StoredAt  time.Time `json:"stored_at"`
		}
		if err := json.Unmarshal([]byte(line[i+3:]), &l); err != nil {
			return e, fmt.Errorf("%v: %s", err, line)
		}
		k := runKey{l.SHA256, l.Engine, l.Sigs}
		switch l.Msg {
		case scan.LogEngineRun:
			e.runs[k] = append(e.runs[k], l.StartedAt)
		case scan.LogResultStored:
			e.stored[k] = append(e.stored[k], l.StoredAt)
		}
	}
	return e, sc.Err()
}

func readEngineRunsFile(path string) (engineRuns, error) {
	f, err := os.Open(path)
	if err != nil {
		return engineRuns{}, err
	}
	defer f.Close()
	return readEngineRuns(f)
}

// total counts engine executions, and repeats those beyond the first of
// each key.
func (e engineRuns) total() (runs, repeats int) {
	for _, ts := range e.runs {
		runs += len(ts)
		repeats += len(ts) - 1
	}
	return runs, repeats
}

// rescansAfterStore lists the executions that started after a result of
// the same content, engine and signatures had been stored: a redelivery
// (after a crash, or any other) that scanned again what was already
// judged. Repeats before any result was stored are a scan cut off by a
// crash, or two deliveries racing, and are allowed.
func (e engineRuns) rescansAfterStore() []string {
	var out []string
	for k, runs := range e.runs {
		var stored time.Time // the first result stored
		for _, at := range e.stored[k] {
			if stored.IsZero() || at.Before(stored) {
				stored = at
			}
		}
		if stored.IsZero() {
			continue
		}
		for _, r := range runs {
			if r.After(stored) {
				out = append(out, fmt.Sprintf("%s scanned %s (signatures %s) again at %s, although its result was stored at %s",
					k.engine, k.sha, k.sigs, r.Format(time.RFC3339Nano), stored.Format(time.RFC3339Nano)))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestEngineRunAccounting keeps the broken variants the chaos tests'
// engine-run check must catch, on logs shaped like the scanners' own.
func TestEngineRunAccounting(t *testing.T) {
	line := func(app, msg, sha, at string) string {
		field := "started_at"
		if msg == scan.LogResultStored {
			field = "stored_at"
		}
		return fmt.Sprintf(`%-22s | {"time":"x","level":"INFO","msg":%q,"engine":"yara","sha256":%q,"signature_version":"rules-1",%q:%q}`,
			app, msg, sha, field, at)
	}
	const a, b = "aaaa", "bbbb"
	for _, c := range []struct {
		name     string
		log      []string
		rescans  int
		runs     int
		repeated int
	}{
		{"one run per content", []string{
			line("scanner-yara", scan.LogEngineRun, a, "2026-12-02T10:00:00.001Z"),
			line("scanner-yara", scan.LogResultStored, a, "2026-12-02T10:00:00.050Z"),
			line("scanner-yara", scan.LogEngineRun, b, "2026-12-02T10:00:00.060Z"),
			line("scanner-yara", scan.LogResultStored, b, "2026-12-02T10:00:00.070Z"),
		}, 0, 2, 0},
		{"a scan cut off by a kill, done again: allowed", []string{
			line("scanner-yara", scan.LogEngineRun, a, "2026-12-02T10:00:00.001Z"),
			line("scanner-yara", scan.LogEngineRun, a, "2026-12-02T10:00:05.000Z"),
			line("scanner-yara", scan.LogResultStored, a, "2026-12-02T10:00:05.050Z"),
		}, 0, 2, 1},
		{"broken: a redelivery after the result was stored scans again", []string{
			line("scanner-yara", scan.LogEngineRun, a, "2026-12-02T10:00:00.001Z"),
			line("scanner-yara", scan.LogResultStored, a, "2026-12-02T10:00:00.050Z"),
			"dapr-scanner-yara     | level=info msg=\"redelivering\"",
			line("scanner-yara", scan.LogEngineRun, a, "2026-12-02T10:00:31.000Z"),
			line("scanner-yara", scan.LogResultStored, a, "2026-12-02T10:00:31.020Z"),
		}, 1, 2, 1},
	} {
		e, err := readEngineRuns(strings.NewReader(strings.Join(c.log, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		runs, repeated := e.total()
		if got := e.rescansAfterStore(); len(got) != c.rescans || runs != c.runs || repeated != c.repeated {
			t.Errorf("%s: %d runs, %d repeated, rescans after store %q; want %d, %d and %d", c.name, runs, repeated, got,
				c.runs, c.repeated, c.rescans)
		}
	}
}
