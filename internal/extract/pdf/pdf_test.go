package pdf

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func scan(data []byte) *Info {
	info, _ := Scan(context.Background(), bytes.NewReader(data), 1<<30)
	return info
}

func TestScan(t *testing.T) {
	tests := []struct {
		name string
		opts tc.PDFOptions
		want Info
	}{
		{"plain", tc.PDFOptions{Pages: 3, Title: "Quarterly (draft)", Author: "Ann Smith", Producer: "testcorpus",
			CreationDate: "D:20240517103000+02'00'"},
			Info{Version: "1.7", PageCount: 3, Title: "Quarterly (draft)", Author: "Ann Smith", Producer: "testcorpus",
				CreationDate: "2024-05-17T10:30:00+02:00"}},
		{"javascript", tc.PDFOptions{JavaScript: true},
			Info{Version: "1.7", PageCount: 1, HasJavaScript: true}},
		{"open action without javascript", tc.PDFOptions{OpenAction: true, Version: "1.4"},
			Info{Version: "1.4", PageCount: 1, HasAutoAction: true}},
		{"javascript run on open", tc.PDFOptions{OpenAction: true, JavaScript: true},
			Info{Version: "1.7", PageCount: 1, HasAutoAction: true, HasJavaScript: true}},
		{"embedded file", tc.PDFOptions{EmbeddedFile: true, Pages: 2},
			Info{Version: "1.7", PageCount: 2, HasEmbeddedFiles: true}},
		{"form", tc.PDFOptions{Form: true},
			Info{Version: "1.7", PageCount: 1, HasForms: true}},
		{"encrypted hides its strings", tc.PDFOptions{Encrypted: true, Title: "ciphertext really"},
			Info{Version: "1.7", PageCount: 1, Encrypted: true, Encryption: "RC4 40-bit"}},
		{"utf-16 title", tc.PDFOptions{Title: "Ünïcode ☃ report", UTF16Title: true},
			Info{Version: "1.7", PageCount: 1, Title: "Ünïcode ☃ report"}},
		{"escaped names", tc.PDFOptions{EscapeNames: true, JavaScript: true, OpenAction: true, Form: true, EmbeddedFile: true, Pages: 4},
			Info{Version: "1.7", PageCount: 4, HasJavaScript: true, HasAutoAction: true, HasForms: true, HasEmbeddedFiles: true}},
		{"object stream", tc.PDFOptions{ObjectStream: true, Version: "1.5", Pages: 5, Title: "Packed", Author: "Bob",
			JavaScript: true, OpenAction: true, Form: true, EmbeddedFile: true},
			Info{Version: "1.5", PageCount: 5, Title: "Packed", Author: "Bob",
				HasJavaScript: true, HasAutoAction: true, HasForms: true, HasEmbeddedFiles: true}},
		{"object stream, encrypted", tc.PDFOptions{ObjectStream: true, Version: "1.6", Encrypted: true, Title: "T"},
			Info{Version: "1.6", PageCount: 1, Encrypted: true, Encryption: "RC4 40-bit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scan(tc.PDF(tt.opts))
			require.NotNil(t, got)
			assert.Positive(t, got.ObjectCount)
			got.ObjectCount = 0
			sec, err := got.Security()
			require.NoError(t, err)
			assert.Equal(t, tt.opts.Encrypted, sec != nil)
			got.sec = nil
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestScanDamaged(t *testing.T) {
	full := tc.PDF(tc.PDFOptions{Pages: 2, Title: "Cut", JavaScript: true, OpenAction: true})
	// Cut just after the JavaScript action: what came before is still found.
	i := bytes.Index(full, []byte("/JS"))
	require.Positive(t, i)
	got := scan(full[:i+40])
	assert.Equal(t, "1.7", got.Version)
	assert.True(t, got.HasJavaScript)
	assert.True(t, got.HasAutoAction)
	assert.Equal(t, 2, got.PageCount)

	for _, data := range [][]byte{
		nil, []byte("%PDF-"), []byte("%PDF-1.7\n1 0 obj << /Type /Catalog"),
		[]byte("%PDF-1.7\n1 0 obj (unterminated \\"), []byte("%PDF-1.7\n1 0 obj <</A [[[[[[[[[[ >>"),
		[]byte("%PDF-1.7\n1 0 obj <</Type/ObjStm/Filter/FlateDecode/N 3/First 2>>stream\nnot zlib\nendstream endobj"),
		append([]byte("%PDF-1.7\n1 0 obj "), bytes.Repeat([]byte("[<<"), 100000)...),
	} {
		assert.NotPanics(t, func() { scan(data) })
	}
	assert.True(t, scan([]byte("not a pdf at all")).Damaged)

	// Nesting deep enough to overflow a recursive parser's stack.
	deep := append([]byte("%PDF-1.7\n1 0 obj "), bytes.Repeat([]byte("[<</A"), 4<<20)...)
	deep = append(deep, "\nendobj\n2 0 obj <</Type/Catalog/OpenAction 3 0 R>> endobj"...)
	got = scan(deep)
	assert.True(t, got.HasAutoAction, "objects after the deep one are still read")
}

func TestScanMemoryIsBounded(t *testing.T) {
	// 1 000 arrays of 2 000 numbers in one object, 4 MB of input: kept
	// whole, they take over 20 times that (an interface and a boxed float
	// each); within the caps, little.
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n1 0 obj [")
	row := "[" + strings.Repeat("1 ", 2000) + "]"
	for range 1000 {
		b.WriteString(row)
	}
	b.WriteString("] endobj\n2 0 obj <</Type/Catalog/OpenAction 3 0 R>> endobj\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := scan(b.Bytes())
	runtime.ReadMemStats(&after)
	assert.True(t, got.HasAutoAction)
	t.Logf("allocated %d MB", (after.TotalAlloc-before.TotalAlloc)>>20)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(48<<20))
}

func TestScanInflateBudget(t *testing.T) {
	data := tc.PDF(tc.PDFOptions{ObjectStream: true, Version: "1.5", JavaScript: true})
	info, fs := Scan(context.Background(), bytes.NewReader(data), 10)
	require.Len(t, fs, 1)
	assert.Equal(t, "uncompressed_too_large", fs[0].Code)
	assert.False(t, info.HasJavaScript, "the dictionaries were beyond the budget")
}

func TestTextAndDate(t *testing.T) {
	assert.Equal(t, "café", text("caf\xe9"))
	assert.Equal(t, "ab", text("a\x00\x07b"))
	assert.Equal(t, "日本", text("\xef\xbb\xbf日本"))
	assert.Equal(t, "2024-01-01T00:00:00Z", date("D:2024"))
	assert.Equal(t, "2023-12-31T23:59:58-05:30", date("D:20231231235958-05'30'"))
	assert.Equal(t, "2023-12-31T23:59:58Z", date("D:20231231235958Z"))
	assert.Equal(t, "yesterday", date("yesterday"))
	assert.Equal(t, "D:20241399", date("D:20241399"))
}

// TestScanAgreesWithPdfinfo checks the scanner against poppler's pdfinfo, an
// independent reader, where it is installed.
func TestScanAgreesWithPdfinfo(t *testing.T) {
	if _, err := exec.LookPath("pdfinfo"); err != nil {
		t.Skip("pdfinfo not installed")
	}
	for _, o := range []tc.PDFOptions{
		{Pages: 7, Title: "Seven pages", Author: "A. Writer", JavaScript: true},
		{ObjectStream: true, Version: "1.5", Pages: 3, Title: "Packed title", Form: true},
	} {
		path := filepath.Join(t.TempDir(), "doc.pdf")
		data := tc.PDF(o)
		require.NoError(t, os.WriteFile(path, data, 0o600))
		out, err := exec.Command("pdfinfo", path).Output()
		require.NoError(t, err)
		fields := map[string]string{}
		for line := range strings.SplitSeq(string(out), "\n") {
			k, v, _ := strings.Cut(line, ":")
			fields[k] = strings.TrimSpace(v)
		}
		got := scan(data)
		assert.Equal(t, fields["Pages"], strconv.Itoa(got.PageCount))
		assert.Equal(t, fields["Title"], got.Title)
		assert.Equal(t, fields["PDF version"], got.Version)
		assert.Equal(t, fields["JavaScript"] == "yes", got.HasJavaScript)
		assert.Equal(t, fields["Form"] == "AcroForm", got.HasForms)
	}
}
