// Command testreport reads `go test -json` and prints what `go test` would
// (each package's result line, the output of failed tests), then one line
// per skipped test with its reason. `make test` runs it after each go test
// run and once more at the end:
//
//	go test -json ./... 2>&1 | testreport -run local -record .run/test-report.jsonl
//	testreport -summary .run/test-report.jsonl
//
// The summary names every skipped test and why, and closes with
// "test: N passed, N failed, N skipped". With CI=true a skip whose reason
// carries testenv.RequiredInCI (the AWS profile, the browser test) fails the
// summary: a green CI means those suites ran.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// RequiredMarker starts the reason of a skip that CI must not accept. It is
// testenv.RequiredInCI; the two are compared in a test.
const RequiredMarker = "REQUIRED IN CI:"

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// Skip is one skipped test.
type Skip struct {
	Run     string `json:"run"` // which go test run: local, aws
	Package string `json:"package"`
	Test    string `json:"test"`
	Reason  string `json:"reason"`
}

// Record is what one go test run adds to the record file.
type Record struct {
	Run     string `json:"run"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped []Skip `json:"skipped"`
	// Broken counts packages that failed outside any test (build errors,
	// a panic in TestMain, a timeout).
	Broken int `json:"broken"`
}

func main() {
	run := flag.String("run", "local", "name of this go test run, for the summary")
	record := flag.String("record", "", "append this run's counts and skips to this file")
	summary := flag.String("summary", "", "print the summary of every run recorded in this file and exit")
	flag.Parse()
	if *summary != "" {
		os.Exit(summarize(os.Stdout, *summary, os.Getenv("CI") == "true"))
	}
	rec, err := report(os.Stdin, os.Stdout, *run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	if *record != "" {
		if err := appendRecord(*record, rec); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
	}
	if rec.Failed > 0 || rec.Broken > 0 || rec.Passed+rec.Failed+len(rec.Skipped) == 0 {
		os.Exit(1)
	}
}

// report copies the run to out as go test would print it and returns its
// counts and skips.
func report(in io.Reader, out io.Writer, run string) (Record, error) {
	rec := Record{Run: run}
	type key struct{ pkg, test string }
	buf := map[key][]string{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		var ev event
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &ev) != nil || ev.Action == "" {
			fmt.Fprintln(out, line) // go's own messages (build errors on stderr)
			continue
		}
		k := key{ev.Package, ev.Test}
		switch {
		case ev.Action == "build-output":
			fmt.Fprint(out, ev.Output)
		case ev.Action == "output" && ev.Test == "":
			// Package lines: "ok  pkg 1.2s", "FAIL pkg", a panic, a timeout.
			if !strings.HasPrefix(ev.Output, "PASS") && !strings.HasPrefix(ev.Output, "=== ") {
				fmt.Fprint(out, ev.Output)
			}
		case ev.Action == "output":
			buf[k] = append(buf[k], ev.Output)
		case ev.Action == "pass" && ev.Test != "":
			rec.Passed++
			delete(buf, k)
		case ev.Action == "fail" && ev.Test != "":
			rec.Failed++
			fmt.Fprint(out, strings.Join(buf[k], ""))
			delete(buf, k)
		case ev.Action == "skip" && ev.Test != "":
			rec.Skipped = append(rec.Skipped, Skip{Run: run, Package: ev.Package, Test: ev.Test, Reason: skipReason(buf[k])})
			delete(buf, k)
		case ev.Action == "fail" && ev.Test == "":
			rec.Broken++
		}
	}
	if err := sc.Err(); err != nil {
		return rec, err
	}
	// A package that failed has counted a failed test already unless it
	// broke outside one; keep Broken for those only.
	if rec.Failed > 0 && rec.Broken > 0 {
		rec.Broken = 0
	}
	return rec, nil
}

// skipReason is what the test said when it skipped: its output without
// go's own "=== RUN" and "--- SKIP" lines and the file:line prefixes.
func skipReason(lines []string) string {
	var parts []string
	for _, l := range lines {
		for s := range strings.Lines(l) {
			s = strings.TrimSpace(s)
			if s == "" || strings.HasPrefix(s, "=== ") || strings.HasPrefix(s, "--- SKIP") {
				continue
			}
			if i := strings.Index(s, ".go:"); i >= 0 && !strings.Contains(s[:i], " ") {
				if j := strings.Index(s[i:], ": "); j >= 0 {
					s = s[i+j+2:]
				}
			}
			parts = append(parts, strings.Trim(s, "* "))
		}
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " ")
}

func appendRecord(path string, rec Record) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// summarize prints every skip of the recorded runs, grouped by reason, and
// the closing counts. It returns the exit status: 1 when a run failed, or
// when ci is set and a required suite was skipped.
func summarize(out io.Writer, path string, ci bool) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(out, "testreport:", err)
		return 1
	}
	var total Record
	var runs []string
	for line := range strings.Lines(string(b)) {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			fmt.Fprintf(out, "testreport: %s: %v\n", path, err)
			return 1
		}
		runs = append(runs, r.Run)
		total.Passed += r.Passed
		total.Failed += r.Failed
		total.Broken += r.Broken
		total.Skipped = append(total.Skipped, r.Skipped...)
	}
	status := 0
	if total.Failed > 0 || total.Broken > 0 {
		status = 1
	}
	// Group: one line per (run, package, reason), naming the tests.
	type group struct{ run, pkg, reason string }
	var order []group
	tests := map[group][]string{}
	var required []string
	for _, s := range total.Skipped {
		g := group{s.Run, s.Package, s.Reason}
		if _, ok := tests[g]; !ok {
			order = append(order, g)
		}
		tests[g] = append(tests[g], s.Test)
		if strings.Contains(s.Reason, RequiredMarker) {
			required = append(required, s.Run+" "+s.Package+" "+s.Test)
		}
	}
	fmt.Fprintf(out, "test: runs %s\n", strings.Join(runs, ", "))
	if len(order) == 0 {
		fmt.Fprintln(out, "test: skipped: none")
	}
	for _, g := range order {
		ts := tests[g]
		slices.Sort(ts)
		fmt.Fprintf(out, "test: SKIPPED in %s run, %s: %s — because: %s\n", g.run, g.pkg, strings.Join(ts, ", "), g.reason)
	}
	if ci && len(required) > 0 {
		fmt.Fprintf(out, "test: FAIL: CI=true and %d required test(s) were skipped (%s); a green CI must mean they ran\n",
			len(required), strings.Join(first(required, 5), "; "))
		status = 1
	}
	fmt.Fprintf(out, "test: %d passed, %d failed, %d skipped\n", total.Passed, total.Failed+total.Broken, len(total.Skipped))
	return status
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}
