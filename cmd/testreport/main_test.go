package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intellidox/intellidox/internal/testenv"
)

// A go test -json run of two packages: one passes with a subtest, one has
// a test that skips as testenv.SkipRequired does and one that skips for
// another reason.
const sample = `{"Action":"start","Package":"example.com/a"}
{"Action":"run","Package":"example.com/a","Test":"TestA"}
{"Action":"output","Package":"example.com/a","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"run","Package":"example.com/a","Test":"TestA/sub"}
{"Action":"pass","Package":"example.com/a","Test":"TestA/sub"}
{"Action":"pass","Package":"example.com/a","Test":"TestA"}
{"Action":"output","Package":"example.com/a","Output":"ok  \texample.com/a\t0.1s\n"}
{"Action":"pass","Package":"example.com/a"}
{"Action":"run","Package":"example.com/e2e","Test":"TestPipeline"}
{"Action":"output","Package":"example.com/e2e","Test":"TestPipeline","Output":"=== RUN   TestPipeline\n"}
{"Action":"output","Package":"example.com/e2e","Test":"TestPipeline","Output":"    aws.go:72: REQUIRED IN CI: AWS PROFILE SKIPPED: moto_server is not on PATH\n"}
{"Action":"output","Package":"example.com/e2e","Test":"TestPipeline","Output":"--- SKIP: TestPipeline (0.00s)\n"}
{"Action":"skip","Package":"example.com/e2e","Test":"TestPipeline"}
{"Action":"run","Package":"example.com/e2e","Test":"TestBig"}
{"Action":"output","Package":"example.com/e2e","Test":"TestBig","Output":"    big_test.go:9: set BIG=1 to run\n"}
{"Action":"skip","Package":"example.com/e2e","Test":"TestBig"}
{"Action":"output","Package":"example.com/e2e","Output":"ok  \texample.com/e2e\t0.2s\n"}
{"Action":"pass","Package":"example.com/e2e"}
`

func TestMarkerIsTestenvs(t *testing.T) {
	if RequiredMarker != testenv.RequiredInCI {
		t.Fatalf("RequiredMarker %q, testenv.RequiredInCI %q: the summary would not recognise required skips",
			RequiredMarker, testenv.RequiredInCI)
	}
}

func TestReportAndSummary(t *testing.T) {
	var out strings.Builder
	rec, err := report(strings.NewReader(sample), &out, "aws")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Passed != 2 || rec.Failed != 0 || len(rec.Skipped) != 2 {
		t.Fatalf("counts %+v", rec)
	}
	if got := rec.Skipped[0].Reason; got != "REQUIRED IN CI: AWS PROFILE SKIPPED: moto_server is not on PATH" {
		t.Errorf("reason %q", got)
	}
	if !strings.Contains(out.String(), "ok  \texample.com/e2e") {
		t.Errorf("package lines not passed through:\n%s", out.String())
	}
	path := filepath.Join(t.TempDir(), "record.jsonl")
	if err := appendRecord(path, rec); err != nil {
		t.Fatal(err)
	}

	var local strings.Builder
	if status := summarize(&local, path, false); status != 0 {
		t.Errorf("without CI a skip is reported, not failed: status %d\n%s", status, local.String())
	}
	for _, want := range []string{"SKIPPED in aws run, example.com/e2e: TestPipeline — because: REQUIRED IN CI: AWS PROFILE",
		"TestBig — because: set BIG=1 to run", "test: 2 passed, 0 failed, 2 skipped"} {
		if !strings.Contains(local.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, local.String())
		}
	}
	lines := strings.Split(strings.TrimSpace(local.String()), "\n")
	if last := lines[len(lines)-1]; last != "test: 2 passed, 0 failed, 2 skipped" {
		t.Errorf("the summary must end with the counts, ends with %q", last)
	}

	var ci strings.Builder
	if status := summarize(&ci, path, true); status != 1 {
		t.Errorf("CI=true with a required suite skipped must fail: status %d\n%s", status, ci.String())
	}
	if !strings.Contains(ci.String(), "FAIL: CI=true and 1 required test(s) were skipped") {
		t.Errorf("no CI failure line:\n%s", ci.String())
	}
}

func TestFailedTestOutputIsShown(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestX"}
{"Action":"output","Package":"p","Test":"TestX","Output":"    x_test.go:3: boom\n"}
{"Action":"output","Package":"p","Test":"TestX","Output":"--- FAIL: TestX (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestX"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p"}
`
	var out strings.Builder
	rec, err := report(strings.NewReader(in), &out, "local")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Failed != 1 || !strings.Contains(out.String(), "boom") || !strings.Contains(out.String(), "FAIL\tp") {
		t.Errorf("record %+v, output:\n%s", rec, out.String())
	}
}

func TestBrokenPackageCounts(t *testing.T) {
	// A build failure: no test ran, the package failed.
	in := "# p\n./x.go:1: syntax error\n" + `{"Action":"output","Package":"p","Output":"FAIL\tp [build failed]\n"}
{"Action":"fail","Package":"p"}
`
	var out strings.Builder
	rec, err := report(strings.NewReader(in), &out, "local")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Broken != 1 || !strings.Contains(out.String(), "syntax error") {
		t.Errorf("record %+v, output:\n%s", rec, out.String())
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := appendRecord(path, rec); err != nil {
		t.Fatal(err)
	}
	var sum strings.Builder
	if summarize(&sum, path, false) != 1 {
		t.Errorf("a broken package must fail the summary:\n%s", sum.String())
	}
	_ = os.Remove(path)
}
