package conformance_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan/conformance"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

// TestScanners runs the conformance suite against every scanner the
// project ships: the Go scanner app with each engine, and the Node.js
// example, which uses nothing but Dapr's HTTP API.
func TestScanners(t *testing.T) {
	root := testenv.Root()
	big := bytes.Repeat([]byte("conformance: too large for the configured limit\n"), 2000) // ~96 KiB
	eicar := conformance.Case{Name: "eicar", Content: []byte(samples.EICAR), Outcome: contract.Malicious}
	clean := conformance.Case{Name: "clean", Content: []byte(samples.Clean), Outcome: contract.Clean}
	scanner := func(t *testing.T) string { return filepath.Join(testenv.Binaries(t), "scanner") }

	cases := []struct {
		name string
		make func(t *testing.T) conformance.Scanner
	}{
		{"clamav", func(t *testing.T) conformance.Scanner {
			return conformance.Scanner{AppID: "scanner-clamav", Engine: "clamav", Command: []string{scanner(t)},
				Env: map[string]string{"SCANNER_ENGINE": "clamav", "CLAMD_ADDR": testenv.ClamdAddr(t),
					"CLAMAV_DB_DIR": filepath.Join(root, "clamav", "db"), "CLAMAV_MAX_SIZE": "64KiB"},
				OnUpload: true, // the default for an engine that reads every file's bytes
				Cases: []conformance.Case{
					withThreat(eicar, "IntelliDox.Test.EICAR"), clean,
					{Name: "eicar in a zip", Content: samples.EICARZip(), Outcome: contract.Malicious, Threat: "EICAR"},
				},
				TooLarge:    big,
				Unavailable: map[string]string{"CLAMD_ADDR": "127.0.0.1:1"}}
		}},
		{"yara", func(t *testing.T) conformance.Scanner {
			return conformance.Scanner{AppID: "scanner-yara", Engine: "yara", Command: []string{scanner(t)},
				Env: map[string]string{"SCANNER_ENGINE": "yara", "YARA_RULES_DIR": filepath.Join(root, "rules", "yara"),
					"YARA_MAX_SIZE": "64KiB"},
				OnUpload: true,
				Cases: []conformance.Case{
					withThreat(eicar, "EICAR_Test_File"), clean,
					{Name: "macro document", Content: samples.MacroDocument(), Outcome: contract.Suspicious, Threat: "Office_VBA_AutoExec"},
					{Name: "pdf with javascript", Content: samples.PDFJavaScript(), Outcome: contract.Suspicious, Threat: "PDF_JavaScript"},
				},
				TooLarge: big}
		}},
		{"reputation", func(t *testing.T) conformance.Scanner {
			return conformance.Scanner{AppID: "scanner-reputation", Engine: "reputation", Command: []string{scanner(t)},
				Env: map[string]string{"SCANNER_ENGINE": "reputation",
					"REPUTATION_LISTS": filepath.Join(root, "rules", "reputation", "known-bad.csv")},
				ContentFree: true,
				Cases: []conformance.Case{
					{Name: "hash-listed", Content: []byte(samples.HashListed), Outcome: contract.Malicious, Threat: "HashListed"},
					withThreat(eicar, "EICAR"), clean,
				}}
		}},
		{"node example", func(t *testing.T) conformance.Scanner {
			node, err := exec.LookPath("node")
			if err != nil {
				t.Fatal("node is not installed (Debian package nodejs): the Node.js example scanner needs it")
			}
			return conformance.Scanner{AppID: "scanner-node-example", Engine: "node-marker",
				Command: []string{node, filepath.Join(root, "examples", "node-scanner", "scanner.js")},
				Env:     map[string]string{"MAX_SIZE": "65536"},
				Cases: []conformance.Case{
					{Name: "marker", Content: []byte("text with " + samples.Marker + " inside"), Outcome: contract.Malicious, Threat: "Marker"},
					clean,
				},
				TooLarge: big}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conformance.Run(t, c.make(t))
		})
	}
}

func withThreat(c conformance.Case, threat string) conformance.Case {
	c.Threat = threat
	return c
}

// TestSuiteCatchesBrokenScanners proves the suite can fail: it runs it
// against testdata/broken, the project's scanner with one deliberate fault
// each, in a child test process, and wants each broken form to fail with
// the check that names its fault, and the unbroken control to pass.
func TestSuiteCatchesBrokenScanners(t *testing.T) {
	if mode := os.Getenv("CONFORMANCE_BROKEN"); mode != "" {
		runBroken(t, mode) // the child: run the suite, pass or fail
		return
	}
	bin := buildBroken(t)
	for _, m := range []struct{ mode, want string }{
		{"none", ""},
		{"on-upload", ""},
		{"wrong-schema", "scan.completed breaks its schema"},
		{"no-idempotency", "redelivery rescanned"},
		{"silent-skip", `want skipped with "too large: …"`},
		{"lost-message", "acknowledged 1 deliveries of an event it could not scan: the message is lost"},
		{"unchecked-claim", "stored a result for bytes that are not the claimed ones"},
	} {
		t.Run(m.mode, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run", "^TestSuiteCatchesBrokenScanners$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "CONFORMANCE_BROKEN="+m.mode, "CONFORMANCE_BROKEN_BIN="+bin)
			out, err := cmd.CombinedOutput()
			switch {
			case m.want == "" && err != nil:
				t.Fatalf("the unbroken control fails the suite (%v), so the broken forms prove nothing:\n%s", err, out)
			case m.want == "":
			case err == nil:
				t.Fatalf("the suite passed a scanner broken by %s:\n%s", m.mode, out)
			case !strings.Contains(string(out), m.want):
				t.Fatalf("the suite failed the %s scanner, but not with %q:\n%s", m.mode, m.want, out)
			default:
				for line := range strings.Lines(string(out)) {
					if strings.Contains(line, m.want) {
						t.Logf("%s: caught: %s", m.mode, strings.TrimSpace(line))
						break
					}
				}
			}
		})
	}
}

func buildBroken(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "broken")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/scan/conformance/testdata/broken")
	cmd.Dir = testenv.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the broken scanner: %v\n%s", err, out)
	}
	return bin
}

func runBroken(t *testing.T, mode string) {
	// A lost event fails its wait; the default timeout suits slow real
	// engines, not a marker search.
	conformance.Timeout = 30 * time.Second
	// The control "on-upload" and the fault that only a scanner starting
	// on file.uploaded can have run with it on.
	onUpload := mode == "on-upload" || mode == "unchecked-claim"
	conformance.Run(t, conformance.Scanner{AppID: "scanner-broken", Engine: "broken-marker", OnUpload: onUpload,
		Command: []string{os.Getenv("CONFORMANCE_BROKEN_BIN")},
		Env:     map[string]string{"BROKEN": mode, "MAX_SIZE": "65536"},
		Cases: []conformance.Case{
			{Name: "marker", Content: []byte("text with " + samples.Marker + " inside"), Outcome: contract.Malicious, Threat: "Marker"},
			{Name: "clean", Content: []byte(samples.Clean), Outcome: contract.Clean},
		},
		TooLarge:    bytes.Repeat([]byte("conformance: too large for the configured limit\n"), 2000),
		Unavailable: map[string]string{"ENGINE_DOWN": "1"}})
}
