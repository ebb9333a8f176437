package conformance_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

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
