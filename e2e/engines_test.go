package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

// expect is one engine's expected outcome, and a substring its threats
// must contain (when not clean).
type expect struct {
	outcome contract.Outcome
	threat  string
	detail  string // a substring of the human detail, e.g. an archive member's path
}

// TestEnginesInParallel uploads the project's samples and checks every
// engine's result on each, and the verdict. Three engines (plus the Node.js
// example scanner) report on each upload independently.
func TestEnginesInParallel(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	clean := expect{outcome: contract.Clean}
	cases := []struct {
		name    string
		data    []byte
		verdict contract.Verdict
		engines map[string]expect
	}{
		{"eicar.com", []byte(samples.EICAR), contract.VerdictMalicious, map[string]expect{
			"clamav":     {outcome: contract.Malicious, threat: "IntelliDox.Test.EICAR"},
			"yara":       {outcome: contract.Malicious, threat: "EICAR_Test_File"},
			"reputation": {outcome: contract.Malicious, threat: "EICAR-Test-File"},
		}},
		{"eicar.zip", samples.EICARZip(), contract.VerdictMalicious, map[string]expect{
			"clamav":     {outcome: contract.Malicious, threat: "IntelliDox.Test.EICAR"},
			"yara":       {contract.Malicious, "EICAR_Test_File", "in eicar.com"}, // names the member
			"reputation": {contract.Malicious, "EICAR-Test-File", "archive member eicar.com"},
		}},
		{"invoice.docm", samples.MacroDocument(), contract.VerdictSuspicious, map[string]expect{
			"clamav": clean, "yara": {outcome: contract.Suspicious, threat: "Office_VBA_AutoExec"}, "reputation": clean,
		}},
		{"brochure.pdf", samples.PDFJavaScript(), contract.VerdictSuspicious, map[string]expect{
			"clamav": clean, "yara": {outcome: contract.Suspicious, threat: "PDF_JavaScript"}, "reputation": clean,
		}},
		{"setup.exe", samples.PackedPE(), contract.VerdictSuspicious, map[string]expect{
			"clamav": clean, "yara": {outcome: contract.Suspicious, threat: "PE_Packer_Sections"}, "reputation": clean,
		}},
		{"listed.txt", []byte(samples.HashListed), contract.VerdictMalicious, map[string]expect{
			"clamav":     {outcome: contract.Malicious, threat: "IntelliDox.Test.HashListed"},
			"yara":       clean,
			"reputation": {outcome: contract.Malicious, threat: "HashListed-Test-File"},
		}},
		{"marker.bin", []byte("prefix " + samples.Marker + " suffix"), contract.VerdictMalicious, map[string]expect{
			"clamav": {outcome: contract.Malicious, threat: "IntelliDox.Test.Marker"}, "yara": clean, "reputation": clean,
			"node-marker": {outcome: contract.Malicious, threat: "Marker"},
		}},
		{"notes.txt", []byte(samples.Clean), contract.VerdictClean, map[string]expect{
			"clamav": clean, "yara": clean, "reputation": clean, "node-marker": clean,
		}},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases { // all in flight at once
		up, err := c.UploadBytes(ctx, tc.name, tc.data)
		require.NoError(t, err, tc.name)
		ids[i] = up.ID
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := c.Wait(ctx, ids[i])
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, f.Verdict)
			var scans struct{ Engines []contract.Result }
			require.Eventually(t, func() bool { // the example engine is not required for the verdict
				s, err := c.Scans(ctx, ids[i])
				scans.Engines = s.Engines
				return err == nil && len(s.Engines) >= len(tc.engines)
			}, 30*time.Second, 50*time.Millisecond)
			got := map[string]contract.Result{}
			for _, r := range scans.Engines {
				got[r.Engine] = r
			}
			for engine, want := range tc.engines {
				r, ok := got[engine]
				if !assert.True(t, ok, "no %s result", engine) {
					continue
				}
				assert.Equal(t, want.outcome, r.Result, "%s: %s", engine, r.Detail)
				if want.threat != "" {
					assert.Contains(t, strings.Join(r.Threats, " "), want.threat, engine)
				}
				if want.detail != "" {
					assert.Contains(t, r.Detail, want.detail, engine)
				}
				assert.NotEmpty(t, r.EngineVersion, engine)
				assert.NotEmpty(t, r.SignatureVersion, engine)
				assert.False(t, r.ScannedAt.IsZero(), engine)
			}
		})
	}
}

// TestArchiveDepth uploads archives whose content only member scanning
// sees: EICAR in a 7z, in a RAR and in a WinZip AES zip under the built-in
// password "infected" (the same zip under an unknown password stays
// unscanned), and a zip holding the hash-listed sample, which the
// reputation engine finds by the member's SHA-256. ClamAV unpacks 7z and
// RAR itself; it tries no passwords (docs/engines.md).
func TestArchiveDepth(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const unlocked = "(opened with the builtin password list)"
	cases := []struct {
		name    string
		data    []byte
		verdict contract.Verdict
		engines map[string]expect
	}{
		{"eicar.7z", samples.EICAR7z(), contract.VerdictMalicious, map[string]expect{
			"clamav":     {outcome: contract.Malicious, threat: "IntelliDox.Test.EICAR"},
			"yara":       {contract.Malicious, "EICAR_Test_File", "EICAR_Test_File in eicar.com"},
			"reputation": {contract.Malicious, "EICAR-Test-File", "archive member eicar.com"},
		}},
		{"eicar.rar", samples.EICARRar(), contract.VerdictMalicious, map[string]expect{
			"clamav":     {outcome: contract.Malicious, threat: "IntelliDox.Test.EICAR"},
			"yara":       {contract.Malicious, "EICAR_Test_File", "EICAR_Test_File in eicar.com"},
			"reputation": {contract.Malicious, "EICAR-Test-File", "archive member eicar.com"},
		}},
		{"eicar-infected.zip", samples.EICARAESZip("infected"), contract.VerdictMalicious, map[string]expect{
			"yara":       {contract.Malicious, "EICAR_Test_File", "in eicar.com " + unlocked},
			"reputation": {contract.Malicious, "EICAR-Test-File", "archive member eicar.com " + unlocked},
		}},
		{"eicar-locked.zip", samples.EICARAESZip("a password in no list"), contract.VerdictUnscanned, map[string]expect{
			"yara":       {contract.Skipped, "", "encrypted: "},
			"reputation": {contract.Clean, "", "members not looked up"},
		}},
		{"listed.zip", samples.HashListedZip(), contract.VerdictMalicious, map[string]expect{
			"yara":       {outcome: contract.Clean},
			"reputation": {contract.Malicious, "HashListed-Test-File", "known-bad sha256 of archive member sample.txt"},
		}},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases {
		up, err := c.UploadBytes(ctx, tc.name, tc.data)
		require.NoError(t, err, tc.name)
		ids[i] = up.ID
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := c.Wait(ctx, ids[i])
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, f.Verdict)
			s, err := c.Scans(ctx, ids[i])
			require.NoError(t, err)
			got := map[string]contract.Result{}
			for _, r := range s.Engines {
				got[r.Engine] = r
			}
			for engine, want := range tc.engines {
				r, ok := got[engine]
				if !assert.True(t, ok, "no %s result", engine) {
					continue
				}
				assert.Equal(t, want.outcome, r.Result, "%s: %s", engine, r.Detail)
				if want.threat != "" {
					assert.Contains(t, strings.Join(r.Threats, " "), want.threat, engine)
				}
				assert.Contains(t, r.Detail, want.detail, engine)
				assert.NotContains(t, r.Detail, "infected", "%s: a detail never shows the password", engine)
			}
		})
	}
}

// TestDecodedViews uploads files whose threat only a decoded view shows: a
// .docm whose AutoOpen macro calls Shell with its source MS-OVBA-compressed
// and no names in clear in _VBA_PROJECT (the raw-bytes rule
// Office_VBA_AutoExec cannot match it), a PDF whose JavaScript
// /OpenAction lives only in a compressed object stream, a PDF with EICAR
// attached (deflated: only the embedded-file view shows it to YARA), and
// PowerShell scripts whose payload is base64: an executable, and an
// -EncodedCommand download cradle. The yara detail names the view.
func TestDecodedViews(t *testing.T) {
	stack := testenv.StartStack(t, testenv.StackOptions{})
	c := stack.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cases := []struct {
		name    string
		data    []byte
		verdict contract.Verdict
		yara    expect
	}{
		{"report.docm", samples.MacroDocumentShell(), contract.VerdictMalicious,
			expect{contract.Malicious, "Office_VBA_AutoOpen_Shell", "Office_VBA_AutoOpen_Shell in word/vbaProject.bin/vba:Module1"}},
		{"packed.pdf", samples.PDFObjStmJavaScript(), contract.VerdictSuspicious,
			expect{contract.Suspicious, "PDF_JavaScript_In_Stream", "PDF_JavaScript_In_Stream in pdf:objstm 5"}},
		{"packed-aes256.pdf", samples.PDFObjStmJavaScriptEncrypted("infected"), contract.VerdictSuspicious,
			expect{contract.Suspicious, "PDF_JavaScript_In_Stream", "PDF_JavaScript_In_Stream in pdf:objstm 5 (opened with the builtin password list)"}},
		{"packed-plain.pdf", samples.PDFObjStmPlain(), contract.VerdictClean,
			expect{contract.Clean, "", "1 decoded views scanned"}},
		{"attachment.pdf", samples.PDFAttachment("eicar.com", []byte(samples.EICAR)), contract.VerdictMalicious,
			expect{contract.Malicious, "EICAR_Test_File", "EICAR_Test_File in pdf:embedded eicar.com"}},
		{"update.ps1", samples.PowerShellEmbeddedPE(), contract.VerdictSuspicious,
			expect{contract.Suspicious, "Encoded_Executable", fmt.Sprintf("Encoded_Executable in base64@%d", bytes.Index(samples.PowerShellEmbeddedPE(), []byte("TVoA")))}},
		{"task.ps1", samples.PowerShellEncodedCommand(), contract.VerdictMalicious,
			expect{contract.Malicious, "Encoded_PowerShell_Download_Exec", "Encoded_PowerShell_Download_Exec in base64@"}},
	}
	ids := make([]string, len(cases))
	for i, tc := range cases {
		up, err := c.UploadBytes(ctx, tc.name, tc.data)
		require.NoError(t, err, tc.name)
		ids[i] = up.ID
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := c.Wait(ctx, ids[i])
			require.NoError(t, err)
			s, err := c.Scans(ctx, ids[i])
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, f.Verdict, "%+v", s.Engines)
			var yara *contract.Result
			for _, r := range s.Engines {
				if r.Engine == "yara" {
					yara = &r
				}
			}
			require.NotNil(t, yara, "no yara result")
			assert.Equal(t, tc.yara.outcome, yara.Result, yara.Detail)
			if tc.yara.threat != "" {
				assert.Equal(t, []string{tc.yara.threat}, yara.Threats)
			}
			assert.Contains(t, yara.Detail, tc.yara.detail)
		})
	}
}
