package verdict

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/intellidox/intellidox/internal/contract"
)

func res(engine string, o contract.Outcome) contract.Result {
	return contract.Result{Engine: engine, Result: o}
}

func TestDecide(t *testing.T) {
	three := []string{"clamav", "yara", "reputation"}
	strict := Policy{Engines: three, OnError: Unscanned, OnSkip: Unscanned}
	lenient := Policy{Engines: three, OnError: Ignore, OnSkip: Ignore}
	tests := []struct {
		name     string
		policy   Policy
		results  []contract.Result
		want     contract.Verdict
		complete bool
	}{
		{"no results", strict, nil, contract.VerdictPending, false},
		{"one missing, even if malicious", strict,
			[]contract.Result{res("clamav", contract.Malicious), res("yara", contract.Clean)},
			contract.VerdictPending, false},
		{"all clean", strict,
			[]contract.Result{res("clamav", contract.Clean), res("yara", contract.Clean), res("reputation", contract.Clean)},
			contract.VerdictClean, true},
		{"malicious beats suspicious and error", strict,
			[]contract.Result{res("clamav", contract.Error), res("yara", contract.Suspicious), res("reputation", contract.Malicious)},
			contract.VerdictMalicious, true},
		{"suspicious beats error", strict,
			[]contract.Result{res("clamav", contract.Error), res("yara", contract.Suspicious), res("reputation", contract.Clean)},
			contract.VerdictSuspicious, true},
		{"error makes unscanned", strict,
			[]contract.Result{res("clamav", contract.Error), res("yara", contract.Clean), res("reputation", contract.Clean)},
			contract.VerdictUnscanned, true},
		{"skip makes unscanned", strict,
			[]contract.Result{res("clamav", contract.Clean), res("yara", contract.Skipped), res("reputation", contract.Clean)},
			contract.VerdictUnscanned, true},
		{"policy ignores error and skip", lenient,
			[]contract.Result{res("clamav", contract.Error), res("yara", contract.Skipped), res("reputation", contract.Clean)},
			contract.VerdictClean, true},
		{"unconfigured engine does not count", strict,
			[]contract.Result{res("clamav", contract.Clean), res("yara", contract.Clean), res("reputation", contract.Clean), res("example", contract.Malicious)},
			contract.VerdictClean, true},
		{"unknown outcome is unscanned", Policy{Engines: []string{"x"}},
			[]contract.Result{res("x", "weird")}, contract.VerdictUnscanned, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, complete := tt.policy.Decide(tt.results, nil)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.complete, complete)
		})
	}
}

func TestDecideWithFindings(t *testing.T) {
	p := Policy{Engines: []string{"a"}}
	bomb := contract.Finding{Code: "zip_bomb", Effect: contract.VerdictSuspicious}
	deep := contract.Finding{Code: "archive_too_deep", Effect: contract.VerdictUnscanned}
	info := contract.Finding{Code: "extension_mismatch"}
	tests := []struct {
		name     string
		outcome  contract.Outcome
		findings []contract.Finding
		want     contract.Verdict
	}{
		{"informational finding changes nothing", contract.Clean, []contract.Finding{info}, contract.VerdictClean},
		{"limit makes clean unscanned", contract.Clean, []contract.Finding{deep}, contract.VerdictUnscanned},
		{"limit leaves malicious", contract.Malicious, []contract.Finding{deep}, contract.VerdictMalicious},
		{"zip bomb makes clean suspicious", contract.Clean, []contract.Finding{bomb}, contract.VerdictSuspicious},
		{"zip bomb beats unscanned", contract.Clean, []contract.Finding{deep, bomb}, contract.VerdictSuspicious},
		{"zip bomb leaves malicious", contract.Malicious, []contract.Finding{bomb}, contract.VerdictMalicious},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, complete := p.Decide([]contract.Result{res("a", tt.outcome)}, tt.findings)
			assert.True(t, complete)
			assert.Equal(t, tt.want, got)
		})
	}
	got, complete := p.Decide(nil, []contract.Finding{bomb})
	assert.False(t, complete)
	assert.Equal(t, contract.VerdictPending, got, "findings alone do not settle a verdict")
}

func TestParseTreatment(t *testing.T) {
	for in, want := range map[string]Treatment{"": Unscanned, "ignore": Ignore, " Unscanned ": Unscanned} {
		got, err := ParseTreatment(in)
		assert.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseTreatment("clean")
	assert.Error(t, err)
}
