package verdict

import (
	"testing"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
)

// BenchmarkDecide is the api's aggregation on every scan.completed: three
// configured engines plus an informational one, and extractor findings.
func BenchmarkDecide(b *testing.B) {
	p := Policy{Engines: []string{"clamav", "yara", "reputation"}, OnError: Unscanned, OnSkip: Unscanned}
	now := time.Now()
	results := []contract.Result{
		{Engine: "node-marker", Result: contract.Clean, ScannedAt: now},
		{Engine: "reputation", Result: contract.Clean, ScannedAt: now},
		{Engine: "yara", Result: contract.Suspicious, Threats: []string{"PDF_JavaScript"}, ScannedAt: now},
		{Engine: "clamav", Result: contract.Clean, ScannedAt: now},
	}
	findings := []contract.Finding{
		{Code: "extension_mismatch", Message: "the name says .txt, the content is a PDF"},
		{Code: "analysis_timeout", Message: "…", Effect: contract.VerdictUnscanned},
	}
	for b.Loop() {
		v, complete := p.Decide(results, findings)
		if !complete || v != contract.VerdictSuspicious {
			b.Fatal(v, complete)
		}
		if len(p.Missing(results)) != 0 {
			b.Fatal("missing")
		}
	}
}
