package files

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/problem"
)

// TestGate covers every verdict under every policy: clean always passes,
// malicious never does, suspicious and unscanned as the tenant chose, and a
// file without a verdict is pending rather than refused.
func TestGate(t *testing.T) {
	verdicts := []contract.Verdict{contract.VerdictClean, contract.VerdictSuspicious, contract.VerdictUnscanned,
		contract.VerdictMalicious, contract.VerdictPending, ""}
	for _, p := range []DownloadPolicy{{}, {AllowSuspicious: true}, {AllowUnscanned: true}, {AllowSuspicious: true, AllowUnscanned: true}} {
		for _, v := range verdicts {
			err := Gate(v, p, []string{"clamav: Eicar"})
			want := ""
			switch {
			case v == contract.VerdictClean,
				v == contract.VerdictSuspicious && p.AllowSuspicious,
				v == contract.VerdictUnscanned && p.AllowUnscanned:
			case v == contract.VerdictPending || v == "":
				want = "verdict_pending"
			default:
				want = "verdict_blocks_download"
			}
			if want == "" {
				assert.NoError(t, err, "%s under %+v", v, p)
				continue
			}
			var pe *problem.Error
			require.True(t, errors.As(err, &pe), "%s under %+v: %v", v, p, err)
			assert.Equal(t, want, pe.Code, "%s under %+v", v, p)
			if want == "verdict_blocks_download" {
				assert.Equal(t, problem.Forbidden, pe.Kind)
				assert.Equal(t, v, pe.Extensions["verdict"])
				assert.Equal(t, []string{"clamav: Eicar"}, pe.Extensions["reasons"])
			} else {
				assert.Equal(t, problem.Conflict, pe.Kind)
			}
		}
	}
}

func TestVerdictTags(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.FixedZone("x", 3600))
	o := Outcome{File: File{Verdict: contract.VerdictMalicious}, ScannedAt: at,
		Signatures: []string{"Win.Test.EICAR_HDB-1", "yara:Eicar test*", "ünïcode"}}
	assert.Equal(t, map[string]string{
		TagVerdict:    "malicious",
		TagScannedAt:  "2026-12-02T11:00:00Z",
		TagSignatures: "Win.Test.EICAR_HDB-1 yara:Eicar_test_ _n_code",
	}, VerdictTags(o))

	// No verdict yet (a rejected file's content, say) is unscanned, never absent.
	assert.Equal(t, "unscanned", VerdictTags(Outcome{File: File{Verdict: contract.VerdictPending}})[TagVerdict])

	// S3 allows 256 characters in a tag value: whole names only.
	long := Outcome{File: File{Verdict: contract.VerdictMalicious}, Signatures: []string{strings.Repeat("a", 200), strings.Repeat("b", 60), "c"}}
	assert.Equal(t, strings.Repeat("a", 200)+" c", VerdictTags(long)[TagSignatures])
}
