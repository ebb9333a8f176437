// Package verdict turns per-engine results into one overall verdict.
package verdict

import (
	"fmt"
	"slices"
	"strings"

	"github.com/intellidox/intellidox/internal/contract"
)

// Treatment says how an error or skipped result affects the verdict.
type Treatment string

// Treatments.
const (
	// Unscanned makes the verdict "unscanned" unless another engine found
	// something: an engine that could not look is not a clean bill.
	Unscanned Treatment = "unscanned"
	// Ignore leaves the result out, as if the engine were not configured.
	Ignore Treatment = "ignore"
)

// Policy is the configurable verdict policy.
type Policy struct {
	// Engines must all report before a verdict is final. Results from other
	// engines are kept and shown but do not count.
	Engines []string
	OnError Treatment
	OnSkip  Treatment
}

// ParseTreatment reads a Treatment from configuration.
func ParseTreatment(s string) (Treatment, error) {
	switch t := Treatment(strings.ToLower(strings.TrimSpace(s))); t {
	case Unscanned, Ignore:
		return t, nil
	case "":
		return Unscanned, nil
	}
	return "", fmt.Errorf("verdict treatment %q: want %q or %q", s, Unscanned, Ignore)
}

// Decide returns the verdict for results and whether every configured engine
// has reported. The verdict is pending until complete is true. The default
// order: any malicious → malicious; else any suspicious → suspicious; else
// all clean → clean; an error or skip → unscanned unless the policy ignores it.
//
// Findings of the extractor then weigh in: a "suspicious" finding (a zip
// bomb) raises a clean or unscanned verdict to suspicious, and an
// "unscanned" finding (a limit stopped inspection) turns clean into
// unscanned, since the engines may not have seen everything.
func (p Policy) Decide(results []contract.Result, findings []contract.Finding) (contract.Verdict, bool) {
	v, complete := p.fromResults(results)
	if !complete {
		return v, false
	}
	for _, f := range findings {
		switch {
		case f.Effect == contract.VerdictSuspicious && v != contract.VerdictMalicious:
			v = contract.VerdictSuspicious
		case f.Effect == contract.VerdictUnscanned && v == contract.VerdictClean:
			v = contract.VerdictUnscanned
		}
	}
	return v, true
}

func (p Policy) fromResults(results []contract.Result) (v contract.Verdict, complete bool) {
	var counted []contract.Result
	for _, e := range p.Engines {
		i := slices.IndexFunc(results, func(r contract.Result) bool { return r.Engine == e })
		if i < 0 {
			return contract.VerdictPending, false
		}
		counted = append(counted, results[i])
	}
	var malicious, suspicious, unscanned bool
	for _, r := range counted {
		switch r.Result {
		case contract.Malicious:
			malicious = true
		case contract.Suspicious:
			suspicious = true
		case contract.Error:
			unscanned = unscanned || p.OnError != Ignore
		case contract.Skipped:
			unscanned = unscanned || p.OnSkip != Ignore
		case contract.Clean:
		default:
			unscanned = true // an outcome this version does not know
		}
	}
	switch {
	case malicious:
		return contract.VerdictMalicious, true
	case suspicious:
		return contract.VerdictSuspicious, true
	case unscanned:
		return contract.VerdictUnscanned, true
	}
	return contract.VerdictClean, true
}

// Missing lists the configured engines that have not reported yet.
func (p Policy) Missing(results []contract.Result) []string {
	missing := []string{}
	for _, e := range p.Engines {
		if !slices.ContainsFunc(results, func(r contract.Result) bool { return r.Engine == e }) {
			missing = append(missing, e)
		}
	}
	return missing
}
