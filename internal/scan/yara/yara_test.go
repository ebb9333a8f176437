package yara_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/extract/views"
	"github.com/intellidox/intellidox/internal/scan"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/scan/yara"
	"github.com/intellidox/intellidox/internal/testenv"
)

func rulesDir() string { return filepath.Join(testenv.Root(), "rules", "yara") }

func newEngine(t testing.TB, cfg yara.Config) *yara.Engine {
	t.Helper()
	if cfg.RulesDir == "" {
		cfg.RulesDir = rulesDir()
	}
	cfg.TempDir = t.TempDir()
	e, err := yara.New(context.Background(), cfg)
	require.NoError(t, err, "the yara and yarac tools come from scripts/infra.sh up (Debian package yara)")
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func scanBytes(t testing.TB, e *yara.Engine, b []byte) scan.Finding {
	t.Helper()
	f, err := e.Scan(context.Background(), bytes.NewReader(b), scan.File{Size: int64(len(b))})
	require.NoError(t, err)
	return f
}

func TestRulePack(t *testing.T) {
	e := newEngine(t, yara.Config{})
	cases := []struct {
		name    string
		file    []byte
		outcome contract.Outcome
		threats []string
		detail  string
	}{
		{"eicar", []byte(samples.EICAR), contract.Malicious, []string{"EICAR_Test_File"}, "matched: EICAR_Test_File"},
		{"eicar in a zip", samples.EICARZip(), contract.Malicious, []string{"EICAR_Test_File"}, "EICAR_Test_File in eicar.com"},
		{"eicar in a zip in a tar.gz", tarGz(t, "bundle/inner.zip", samples.EICARZip()), contract.Malicious, []string{"EICAR_Test_File"}, "EICAR_Test_File in bundle/inner.zip/eicar.com"},
		{"auto-exec macro document", samples.MacroDocument(), contract.Suspicious, []string{"Office_VBA_AutoExec"}, "Office_VBA_AutoExec in word/vbaProject.bin"},
		{"auto-open macro calling Shell, in compressed source only", samples.MacroDocumentShell(), contract.Malicious, []string{"Office_VBA_AutoOpen_Shell"},
			"Office_VBA_AutoOpen_Shell in word/vbaProject.bin/vba:Module1"},
		{"OLE VBA project calling Shell on AutoOpen", samples.VBAProject(samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource}),
			contract.Malicious, []string{"Office_VBA_AutoOpen_Shell"}, "matched: Office_VBA_AutoOpen_Shell in vba:Module1; 1 decoded views scanned"},
		{"pdf javascript in an object stream only", samples.PDFObjStmJavaScript(), contract.Suspicious, []string{"PDF_JavaScript_In_Stream"},
			"PDF_JavaScript_In_Stream in pdf:objstm 5"},
		{"pdf object stream without javascript", samples.PDFObjStmPlain(), contract.Clean, []string{}, "no rule matched; 1 decoded views scanned"},
		{"AES-256 pdf, password infected, javascript in an object stream", samples.PDFObjStmJavaScriptEncrypted("infected"), contract.Suspicious,
			[]string{"PDF_JavaScript_In_Stream"}, "PDF_JavaScript_In_Stream in pdf:objstm 5 (opened with the builtin password list)"},
		{"manual macro document", samples.MacroDocumentManual(), contract.Clean, []string{}, "informational: OOXML_VBA_Project"},
		{"plain document", samples.Document(), contract.Clean, []string{}, "no rule matched; 3 archive members scanned"},
		{"pdf javascript", samples.PDFJavaScript(), contract.Suspicious, []string{"PDF_JavaScript", "PDF_AutoAction_Script"}, "informational: PDF_AutoAction"},
		{"pdf hex-escaped javascript", samples.PDFJavaScriptHexEscaped(), contract.Suspicious, []string{"PDF_JavaScript", "PDF_AutoAction_Script"}, ""},
		{"pdf view action", samples.PDFPlain(), contract.Clean, []string{}, "informational: PDF_AutoAction"},
		{"upx packed pe", samples.PackedPE(), contract.Suspicious, []string{"PE_Packer_Sections"}, ""},
		{"plain pe", samples.PlainPE(), contract.Clean, []string{}, ""},
		{"eicar in a 7z", samples.EICAR7z(), contract.Malicious, []string{"EICAR_Test_File"}, "EICAR_Test_File in eicar.com"},
		{"eicar in a rar", samples.EICARRar(), contract.Malicious, []string{"EICAR_Test_File"}, "EICAR_Test_File in eicar.com"},
		{"eicar in an encrypted rar", samples.RAR("infected", "eicar.com", []byte(samples.EICAR)), contract.Malicious, []string{"EICAR_Test_File"},
			"EICAR_Test_File in eicar.com (opened with the builtin password list)"},
		{"eicar in a rar 4", samples.EICARRar4(), contract.Malicious, []string{"EICAR_Test_File"}, "EICAR_Test_File in eicar.com"},
		{"eicar in a rar 4, names and data encrypted", samples.RAR4With(samples.RAR4Options{Password: "infected", EncryptHeaders: true},
			samples.RAR4File{Name: "eicar.com", Body: []byte(samples.EICAR)}), contract.Malicious, []string{"EICAR_Test_File"},
			"EICAR_Test_File in eicar.com (opened with the builtin password list)"},
		{"eicar in an AES zip, password infected", samples.EICARAESZip("infected"), contract.Malicious, []string{"EICAR_Test_File"},
			"EICAR_Test_File in eicar.com (opened with the builtin password list)"},
		{"eicar in a 7z in a zip", zipWith(t, map[string]string{"inner.7z": string(samples.EICAR7z())}), contract.Malicious, []string{"EICAR_Test_File"}, "EICAR_Test_File in inner.7z/eicar.com"},
		{"eicar attached to a pdf", samples.PDFAttachment("eicar.com", []byte(samples.EICAR)), contract.Malicious, []string{"EICAR_Test_File"},
			"matched: EICAR_Test_File in pdf:embedded eicar.com; 1 decoded views scanned"},
		{"executable attached to a pdf", samples.PDFAttachment("report.exe", samples.PlainPE()), contract.Suspicious, []string{"Embedded_Executable"},
			"Embedded_Executable in pdf:embedded report.exe"},
		{"executable embedded in a .doc", samples.DocEmbedding("payload.exe", samples.PlainPE()), contract.Suspicious, []string{"Embedded_Executable"},
			"Embedded_Executable in ole:embedded payload.exe"},
		{"eicar embedded in a .doc", samples.DocEmbedding("eicar.com", []byte(samples.EICAR)), contract.Malicious, []string{"EICAR_Test_File"},
			"EICAR_Test_File in ole:embedded eicar.com"},
		{"executable in base64 in a script", samples.PowerShellEmbeddedPE(), contract.Suspicious, []string{"Encoded_Executable"},
			fmt.Sprintf("Encoded_Executable in base64@%d", bytes.Index(samples.PowerShellEmbeddedPE(), []byte("TVoA")))},
		{"encoded PowerShell download cradle", samples.PowerShellEncodedCommand(), contract.Malicious, []string{"Encoded_PowerShell_Download_Exec"},
			fmt.Sprintf("Encoded_PowerShell_Download_Exec in base64@%d", bytes.IndexByte(samples.PowerShellEncodedCommand(), '\'')+1)},
		{"executable in hex in a script", []byte("$h = '" + hex.EncodeToString(samples.PlainPE()) + "'\n"), contract.Suspicious, []string{"Encoded_Executable"},
			"Encoded_Executable in hex@6"},
		{"text", []byte(samples.Clean), contract.Clean, []string{}, "no rule matched"},
		{"eicar string inside other text", []byte("see: " + samples.EICAR), contract.Clean, []string{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := scanBytes(t, e, c.file)
			assert.Equal(t, c.outcome, f.Outcome, f.Detail)
			assert.ElementsMatch(t, c.threats, f.Threats)
			assert.Contains(t, f.Detail, c.detail)
		})
	}
}

// TestDecodedViews shows that the view rules see only what the decoded
// views show: without views (RawOnly, the engine as it was) the same files
// pass, and the decoded text handed over as raw bytes matches nothing.
func TestDecodedViews(t *testing.T) {
	raw := newEngine(t, yara.Config{RawOnly: true})
	for name, file := range map[string][]byte{
		"docm":             samples.MacroDocumentShell(),
		"pdf":              samples.PDFObjStmJavaScript(),
		"the macro source": []byte(samples.ShellMacroSource),
	} {
		t.Run("raw bytes only: "+name, func(t *testing.T) {
			f := scanBytes(t, raw, file)
			assert.Equal(t, contract.Clean, f.Outcome, f.Detail)
			assert.Empty(t, f.Threats)
		})
	}
	for name, file := range map[string][]byte{
		"pdf attaching an executable":    samples.PDFAttachment("report.exe", samples.PlainPE()),
		".doc embedding an executable":   samples.DocEmbedding("payload.exe", samples.PlainPE()),
		"script with a base64 PE":        samples.PowerShellEmbeddedPE(),
		"encoded PowerShell command":     samples.PowerShellEncodedCommand(),
		"pdf attaching eicar (deflated)": samples.PDFAttachment("eicar.com", []byte(samples.EICAR)),
	} {
		t.Run("raw bytes only: "+name, func(t *testing.T) {
			f := scanBytes(t, raw, file)
			assert.Equal(t, contract.Clean, f.Outcome, f.Detail)
			assert.Empty(t, f.Threats)
		})
	}
	e := newEngine(t, yara.Config{})
	t.Run("the macro source as a file is not a view", func(t *testing.T) {
		f := scanBytes(t, e, []byte(samples.ShellMacroSource))
		assert.Equal(t, contract.Clean, f.Outcome, f.Detail)
	})
	// What the views decode to, handed over as files of their own, is left
	// to the other rules: the view rules do not match it.
	for name, file := range map[string][]byte{
		"the download cradle, UTF-16LE": utf16le(samples.DownloadCradle),
		"the download cradle":           []byte(samples.DownloadCradle),
		"an executable":                 samples.PlainPE(),
	} {
		t.Run(name+" as a file is not a view", func(t *testing.T) {
			f := scanBytes(t, e, file)
			assert.Equal(t, contract.Clean, f.Outcome, f.Detail)
			assert.Empty(t, f.Threats)
		})
	}
	t.Run("text beyond the search limit: a note, not a skip", func(t *testing.T) {
		text := append(bytes.Repeat([]byte("padding line\n"), 100), samples.PowerShellEncodedCommand()...)
		f := scanBytes(t, newEngine(t, yara.Config{Views: views.Limits{MaxTextBytes: 1000}}), text)
		assert.Equal(t, contract.Clean, f.Outcome, f.Detail)
		assert.Contains(t, f.Detail, "note: text beyond the first 1000 bytes was not searched for base64 and hex blobs")
		f = scanBytes(t, e, text)
		assert.Equal(t, contract.Malicious, f.Outcome, f.Detail)
	})
	t.Run("blob limits are skips", func(t *testing.T) {
		f := scanBytes(t, newEngine(t, yara.Config{Views: views.Limits{MaxViewBytes: 50}}), samples.PowerShellEmbeddedPE())
		assert.Equal(t, contract.Skipped, f.Outcome, f.Detail)
		assert.Contains(t, f.Detail, "not scanned: a decoded view exceeds the limit (base64@")
	})
	t.Run("a manual macro that shells out", func(t *testing.T) {
		f := scanBytes(t, e, samples.MacroDocumentWith(samples.VBAModule{Name: "Module1",
			Source: "Attribute VB_Name = \"Module1\"\r\nSub Run()\r\n    Shell \"calc.exe\"\r\nEnd Sub\r\n"}))
		assert.Equal(t, contract.Clean, f.Outcome, f.Detail)
		assert.Contains(t, f.Detail, "1 decoded views scanned")
	})

	two := samples.MacroDocumentWith(samples.VBAModule{Name: "ThisDocument", Source: "Attribute VB_Name = \"ThisDocument\"\r\n"},
		samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource})
	t.Run("view count limit", func(t *testing.T) {
		f := scanBytes(t, newEngine(t, yara.Config{Views: views.Limits{MaxViews: 1}}), two)
		assert.Equal(t, contract.Skipped, f.Outcome, f.Detail)
		assert.Contains(t, f.Detail, "more decoded views than the limit of 1; some VBA modules were not decoded")
		// Within the limit the same file is caught.
		f = scanBytes(t, newEngine(t, yara.Config{Views: views.Limits{MaxViews: 2}}), two)
		assert.Equal(t, contract.Malicious, f.Outcome, f.Detail)
	})
	t.Run("view size limit", func(t *testing.T) {
		f := scanBytes(t, newEngine(t, yara.Config{Views: views.Limits{MaxViewBytes: 40}}), samples.MacroDocumentShell())
		assert.Equal(t, contract.Skipped, f.Outcome, f.Detail)
		assert.Contains(t, f.Detail, "VBA source exceeds the limit of 40 bytes per view")
	})
	t.Run("pdf stream limits", func(t *testing.T) {
		f := scanBytes(t, newEngine(t, yara.Config{Views: views.Limits{MaxViewBytes: 40}}), samples.PDFObjStmJavaScript())
		assert.Equal(t, contract.Skipped, f.Outcome, f.Detail)
		assert.Contains(t, f.Detail, "a decoded view exceeds the limit (pdf:objstm 5")
	})
}

func TestVersions(t *testing.T) {
	e := newEngine(t, yara.Config{})
	engine, sigs, err := e.Versions(context.Background())
	require.NoError(t, err)
	assert.Regexp(t, `^\d+\.\d+\.\d+`, engine)
	assert.Regexp(t, `^rules-[0-9a-f]{12}$`, sigs)

	// The signature version is the pack's content: a changed rule changes it.
	dir := t.TempDir()
	copyRules(t, dir)
	again := newEngine(t, yara.Config{RulesDir: dir})
	_, same, _ := again.Versions(context.Background())
	assert.Equal(t, sigs, same)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.yar"),
		[]byte(`rule Extra { strings: $a = "IntelliDox-extra" condition: $a }`), 0o644))
	changed := newEngine(t, yara.Config{RulesDir: dir})
	_, other, _ := changed.Versions(context.Background())
	assert.NotEqual(t, sigs, other)

	// A rule without a severity counts as suspicious.
	f := scanBytes(t, changed, []byte("xx IntelliDox-extra xx"))
	assert.Equal(t, contract.Suspicious, f.Outcome)
	assert.Equal(t, []string{"Extra"}, f.Threats)
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

func copyRules(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(rulesDir(), "*.yar"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644))
	}
}

func TestBadRulesFailAtStart(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yar"), []byte(`rule Bad { condition: nonsense }`), 0o644))
	_, err := yara.New(context.Background(), yara.Config{RulesDir: dir, TempDir: t.TempDir()})
	assert.ErrorContains(t, err, "compiling")
	_, err = yara.New(context.Background(), yara.Config{RulesDir: t.TempDir(), TempDir: t.TempDir()})
	assert.ErrorContains(t, err, "no rules")
}

func TestSkips(t *testing.T) {
	e := newEngine(t, yara.Config{MaxSize: 1 << 20, Archive: archive.Limits{MaxArchiveEntries: 3}})
	t.Run("declared size above the limit is not read", func(t *testing.T) {
		f, err := e.Scan(context.Background(), failingReader{}, scan.File{Size: 2 << 20})
		require.NoError(t, err)
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.True(t, strings.HasPrefix(f.Detail, "too large: "), f.Detail)
	})
	t.Run("more bytes than declared", func(t *testing.T) {
		b := make([]byte, 1<<20+1)
		f, err := e.Scan(context.Background(), bytes.NewReader(b), scan.File{Size: 10})
		require.NoError(t, err)
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.True(t, strings.HasPrefix(f.Detail, "too large: "), f.Detail)
	})
	t.Run("zip with too many members", func(t *testing.T) {
		f := scanBytes(t, e, zipWith(t, map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}))
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.Equal(t, scan.ReasonTooLarge, scan.SkipReason(f.Detail), f.Detail)
		assert.Contains(t, f.Detail, "not scanned: ")
	})
	t.Run("zip bomb", func(t *testing.T) {
		f := scanBytes(t, e, zipWith(t, map[string]string{"zeros": strings.Repeat("\x00", 2<<20)}))
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.Equal(t, scan.ReasonTooLarge, scan.SkipReason(f.Detail), f.Detail)
	})
	t.Run("encrypted member", func(t *testing.T) {
		f := scanBytes(t, e, zipWith(t, map[string]string{"secret.doc": "ciphertext"}, "secret.doc"))
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.Equal(t, scan.ReasonEncrypted, scan.SkipReason(f.Detail), f.Detail)
		assert.Contains(t, f.Detail, "secret.doc")
	})
	t.Run("AES zip with an unknown password", func(t *testing.T) {
		f := scanBytes(t, e, samples.EICARAESZip("not-a-listed-password"))
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.Equal(t, scan.ReasonEncrypted, scan.SkipReason(f.Detail), f.Detail)
		assert.Contains(t, f.Detail, "eicar.com")
		assert.NotContains(t, f.Detail, "not-a-listed-password")
	})
	t.Run("encrypted pdf with an unknown password", func(t *testing.T) {
		f := scanBytes(t, e, samples.PDFObjStmJavaScriptEncrypted("not-a-listed-password"))
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.Equal(t, scan.ReasonEncrypted, scan.SkipReason(f.Detail), f.Detail)
		assert.Contains(t, f.Detail, "encrypted (AES-256)")
		assert.NotContains(t, f.Detail, "not-a-listed-password")
	})
	t.Run("encrypted pdf opened by the file's own list", func(t *testing.T) {
		b := samples.PDFObjStmJavaScriptEncrypted("tenant-secret")
		f, err := e.Scan(context.Background(), bytes.NewReader(b), scan.File{Size: int64(len(b)),
			Passwords: []archive.Passwords{archive.Builtin(), {Source: "tenant", List: []string{"tenant-secret"}}}})
		require.NoError(t, err)
		assert.Equal(t, contract.Suspicious, f.Outcome, f.Detail)
		assert.Contains(t, f.Detail, "PDF_JavaScript_In_Stream in pdf:objstm 5 (opened with the tenant password list)")
	})
	t.Run("encrypted rar with an unknown password", func(t *testing.T) {
		f := scanBytes(t, e, samples.RAR("not-a-listed-password", "eicar.com", []byte(samples.EICAR)))
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.Equal(t, scan.ReasonEncrypted, scan.SkipReason(f.Detail), f.Detail)
	})
	t.Run("encrypted rar 4 with an unknown password", func(t *testing.T) {
		f := scanBytes(t, e, samples.RAR4With(samples.RAR4Options{Password: "not-a-listed-password"}, samples.RAR4File{Name: "eicar.com", Body: []byte(samples.EICAR)}))
		assert.Equal(t, contract.Skipped, f.Outcome)
		assert.Equal(t, scan.ReasonEncrypted, scan.SkipReason(f.Detail), f.Detail)
	})
	t.Run("a threat outweighs an encrypted member", func(t *testing.T) {
		zb := zipWith(t, map[string]string{"eicar.com": samples.EICAR, "secret.doc": "ciphertext"}, "secret.doc")
		f := scanBytes(t, e, zb)
		assert.Equal(t, contract.Malicious, f.Outcome)
	})
}

// zipWith builds a zip; members named in encrypted are flagged encrypted
// (their bytes are not enciphered: the flag is what readers honour).
func zipWith(t *testing.T, members map[string]string, encrypted ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range members {
		var w io.Writer
		var err error
		if slices.Contains(encrypted, name) {
			w, err = zw.CreateRaw(&zip.FileHeader{Name: name, Flags: 0x1, Method: zip.Store,
				CompressedSize64: uint64(len(body)), UncompressedSize64: uint64(len(body))})
		} else {
			w, err = zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		}
		require.NoError(t, err)
		_, err = io.WriteString(w, body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { panic("the object must not be read") }

func TestTimeoutKillsYara(t *testing.T) {
	e := newEngine(t, yara.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err := e.Scan(ctx, strings.NewReader(samples.EICAR), scan.File{Size: int64(len(samples.EICAR))})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestStagingIsRemoved(t *testing.T) {
	tmp := t.TempDir()
	e, err := yara.New(context.Background(), yara.Config{RulesDir: rulesDir(), TempDir: tmp})
	require.NoError(t, err)
	scanBytes(t, e, samples.EICARZip())
	entries, _ := os.ReadDir(tmp)
	require.Len(t, entries, 1, "only the compiled rules remain")
	assert.True(t, strings.HasPrefix(entries[0].Name(), "yara-rules-"))
	require.NoError(t, e.Close())
	entries, _ = os.ReadDir(tmp)
	assert.Empty(t, entries)
}

// BenchmarkScan measures a whole scan: staging the object to a temporary
// file, one yara process, parsing. The empty case is the per-scan overhead
// of calling the CLI.
// BenchmarkScan scans random data through the yara CLI (a process per
// scan) and through a yara-helper (libyara in a long-lived process). The
// scans are sequential, so the time per scan is the CPU of the scanner and
// of yara together, staging included.
func BenchmarkScan(b *testing.B) {
	modes := map[string]string{"cli": ""}
	if bin := filepath.Join(testenv.Root(), "bin", "yara-helper"); fileExists(bin) {
		modes["helper"] = bin
	}
	for _, mode := range []string{"cli", "helper"} {
		bin, ok := modes[mode]
		if !ok {
			continue
		}
		e := newEngine(b, yara.Config{MaxSize: 1 << 30, Helper: bin})
		for _, size := range []int{0, 10_000, 1 << 20, 100 << 20} {
			data := make([]byte, size)
			_, _ = rand.Read(data)
			b.Run(mode+"/"+sizeName(size), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					f, err := e.Scan(context.Background(), bytes.NewReader(data), scan.File{Size: int64(size)})
					if err != nil || f.Outcome != contract.Clean {
						b.Fatal(f, err)
					}
				}
			})
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func sizeName(n int) string {
	switch {
	case n == 0:
		return "empty"
	case n < 1<<20:
		return fmt.Sprintf("%dKB", n/1000)
	}
	return fmt.Sprintf("%dMiB", n>>20)
}

func tarGz(t *testing.T, name string, body []byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
	_, err := tw.Write(body)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// BenchmarkViews compares the engine with and without decoded views: on a
// file without views (100 KB of random bytes) the views cost one 1 KiB
// read; on 100 KB of text without blobs, one read through the blob finder;
// on a docm they cost the decoding and a second yara process.
func BenchmarkViews(b *testing.B) {
	noise := make([]byte, 100<<10)
	_, _ = rand.Read(noise)
	text := bytes.Repeat([]byte("An ordinary line of text, as in a log or a script.\n"), 2100)[:100<<10]
	files := map[string][]byte{"100KB": noise, "100KB-text": text, "docm": samples.MacroDocumentShell(), "pdf": samples.PDFObjStmJavaScript(),
		"ps1-base64-pe": samples.PowerShellEmbeddedPE(), "pdf-attachment": samples.PDFAttachment("report.exe", samples.PlainPE())}
	for _, mode := range []string{"raw", "views"} {
		e := newEngine(b, yara.Config{RawOnly: mode == "raw"})
		for _, name := range []string{"100KB", "100KB-text", "docm", "pdf", "ps1-base64-pe", "pdf-attachment"} {
			data := files[name]
			b.Run(name+"/"+mode, func(b *testing.B) {
				for b.Loop() {
					if _, err := e.Scan(context.Background(), bytes.NewReader(data), scan.File{Size: int64(len(data))}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestViewsOfQpdfObjectStreams checks the PDF views on files a real writer
// packed, where qpdf is installed (scripts/infra.sh installs it): qpdf
// moves every dictionary of a PDF with a JavaScript /OpenAction into
// compressed object streams, and only the view rule then sees the script.
// qpdf's own check of our object-stream sample is part of it.
func TestViewsOfQpdfObjectStreams(t *testing.T) {
	if _, err := exec.LookPath("qpdf"); err != nil {
		testenv.SkipRequired(t, "qpdf is needed for the cross-check (scripts/infra.sh installs it)")
	}
	dir := t.TempDir()
	sample := filepath.Join(dir, "sample.pdf")
	require.NoError(t, os.WriteFile(sample, samples.PDFObjStmJavaScript(), 0o600))
	out, err := exec.Command("qpdf", "--check", sample).CombinedOutput()
	require.NoError(t, err, "qpdf --check: %s", out)
	assert.Contains(t, string(out), "No syntax or stream encoding errors")

	e := newEngine(t, yara.Config{})
	raw := newEngine(t, yara.Config{RawOnly: true})
	for name, src := range map[string][]byte{"javascript": samples.PDFJavaScript(), "hex-escaped": samples.PDFJavaScriptHexEscaped()} {
		t.Run(name, func(t *testing.T) {
			in, packed := filepath.Join(dir, name+".pdf"), filepath.Join(dir, name+"-packed.pdf")
			require.NoError(t, os.WriteFile(in, src, 0o600))
			out, err := exec.Command("qpdf", "--object-streams=generate", "--compress-streams=y", in, packed).CombinedOutput()
			require.NoError(t, err, "%s", out)
			b, err := os.ReadFile(packed)
			require.NoError(t, err)
			f := scanBytes(t, raw, b)
			assert.Equal(t, contract.Clean, f.Outcome, "raw bytes only: %s", f.Detail)
			f = scanBytes(t, e, b)
			assert.Equal(t, contract.Suspicious, f.Outcome, f.Detail)
			assert.Equal(t, []string{"PDF_JavaScript_In_Stream"}, f.Threats)
			assert.Regexp(t, `PDF_JavaScript_In_Stream in pdf:objstm \d+`, f.Detail)
		})
	}
}
