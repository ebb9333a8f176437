package pdf_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/extract/pdf"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

var wide = pdf.StreamLimits{MaxStreams: 100, MaxStreamBytes: 1 << 20, MaxTotalBytes: 1 << 20}

func streams(t *testing.T, b []byte, lim pdf.StreamLimits) ([]pdf.Stream, error) {
	t.Helper()
	var out []pdf.Stream
	err := pdf.Streams(context.Background(), bytes.NewReader(b), int64(len(b)), lim, func(s pdf.Stream) error {
		out = append(out, s)
		return nil
	})
	return out, err
}

func deflate(s string) string { return string(tc.Zlib([]byte(s))) }

func TestStreamsObjectStream(t *testing.T) {
	got, err := streams(t, samples.PDFObjStmJavaScript(), wide)
	require.NoError(t, err)
	require.Len(t, got, 1, "the xref stream is not compressed")
	assert.Equal(t, 5, got[0].Object)
	assert.True(t, got[0].ObjStm)
	assert.Contains(t, string(got[0].Data), "/S /JavaScript /JS (app.alert")
	assert.NotContains(t, string(samples.PDFObjStmJavaScript()), "JavaScript", "only the view shows it")
}

func TestStreamsKinds(t *testing.T) {
	content := deflate("BT /F1 12 Tf (hello) Tj ET")
	pdfText := "%PDF-1.4\n" +
		"1 0 obj\n<< /Length 5 >>\nstream\nplain\nendstream\nendobj\n" +
		"2 0 obj\n<< /Filter /FlateDecode /Length " + "99" + " >>\nstream\r\n" + content + "\nendstream\nendobj\n" +
		"3 0 obj\n<< /Filter /ASCIIHexDecode >>\nstream\n414243\nendstream\nendobj\n" +
		"4 0 obj\n<< /Filter /FlateDecode >>\nstream\nnot zlib at all\nendstream\nendobj\n" +
		"5 0 obj\n<< /Filter [/FlateDecode] >>\nstream\n" + deflate("second") + "\nendstream\nendobj\n" +
		"6 0 obj\n<< /Subtype /Image /Filter /FlateDecode >>\nstream\n" + deflate(strings.Repeat("\x00\x01\x02\xff", 100)) + "\nendstream\nendobj\n" +
		"7 0 obj\n<< /Type /ObjStm /Filter /FlateDecode >>\nstream\n" + deflate("\x00\x00\x00\x00 binary, but an object stream") + "\nendstream\nendobj\n"
	got, err := streams(t, []byte(pdfText), wide)
	require.NoError(t, err)
	require.Len(t, got, 3, "a lying /Length does not matter; other filters, damaged and binary data are skipped")
	assert.Equal(t, 2, got[0].Object)
	assert.Equal(t, "BT /F1 12 Tf (hello) Tj ET", string(got[0].Data))
	assert.False(t, got[0].ObjStm)
	assert.Equal(t, 5, got[1].Object)
	assert.Equal(t, "second", string(got[1].Data))
	assert.Equal(t, 7, got[2].Object, "object streams are kept even when binary")
	assert.True(t, got[2].ObjStm)
}

func TestStreamsLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("%PDF-1.4\n")
	for i := range 10 {
		b.WriteString("1" + string(rune('0'+i)) + " 0 obj\n<< /Filter /FlateDecode >>\nstream\n" + deflate(strings.Repeat("x", 1000)) + "\nendstream\nendobj\n")
	}
	file := []byte(b.String())

	got, err := streams(t, file, pdf.StreamLimits{MaxStreams: 3, MaxStreamBytes: 1 << 20, MaxTotalBytes: 1 << 20})
	assert.ErrorIs(t, err, pdf.ErrStreamLimit)
	assert.Len(t, got, 3)

	got, err = streams(t, file, pdf.StreamLimits{MaxStreams: 100, MaxStreamBytes: 100, MaxTotalBytes: 1 << 20})
	assert.NoError(t, err, "a cut stream is flagged on the stream")
	require.Len(t, got, 10)
	assert.True(t, got[0].Truncated)
	assert.Len(t, got[0].Data, 100)

	got, err = streams(t, file, pdf.StreamLimits{MaxStreams: 100, MaxStreamBytes: 1 << 20, MaxTotalBytes: 2500})
	assert.ErrorIs(t, err, pdf.ErrStreamLimit)
	require.Len(t, got, 3)
	assert.True(t, got[2].Truncated)
	total := 0
	for _, s := range got {
		total += len(s.Data)
	}
	assert.Equal(t, 2500, total)

	// Images and fonts (binary when inflated) do not count: a PDF of many
	// pictures does not trip the limits.
	var img strings.Builder
	img.WriteString("%PDF-1.4\n")
	for range 50 {
		img.WriteString("1 0 obj\n<< /Subtype /Image /Filter /FlateDecode >>\nstream\n" + deflate(strings.Repeat("\x00\x80\x01\xfe", 5000)) + "\nendstream\nendobj\n")
	}
	got, err = streams(t, []byte(img.String()), pdf.StreamLimits{MaxStreams: 3, MaxStreamBytes: 1 << 20, MaxTotalBytes: 1 << 20})
	assert.NoError(t, err)
	assert.Empty(t, got)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = pdf.Streams(ctx, bytes.NewReader(file), int64(len(file)), wide, func(pdf.Stream) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
}

func embeddedOnly(got []pdf.Stream) []pdf.Stream {
	var out []pdf.Stream
	for _, s := range got {
		if s.Embedded {
			out = append(out, s)
		}
	}
	return out
}

func TestStreamsEmbeddedFiles(t *testing.T) {
	t.Run("named by a file specification after the stream", func(t *testing.T) {
		got, err := streams(t, samples.PDFAttachment("report.exe", samples.PlainPE()), wide)
		require.NoError(t, err)
		require.Len(t, got, 1, "binary, but passed: it is an embedded file")
		assert.Equal(t, pdf.Stream{Object: 4, Embedded: true, FileName: "report.exe", Data: samples.PlainPE()}, got[0])
	})
	t.Run("unfiltered, escaped names, specification in an object stream", func(t *testing.T) {
		for name, o := range map[string]tc.PDFOptions{
			"plain":         {EmbeddedFile: true},
			"escaped names": {EmbeddedFile: true, EscapeNames: true},
			"object stream": {EmbeddedFile: true, ObjectStream: true, Version: "1.5"},
		} {
			got, err := streams(t, tc.PDF(o), wide)
			require.NoError(t, err, name)
			emb := embeddedOnly(got)
			require.Len(t, emb, 1, name)
			assert.Equal(t, "payload.txt", emb[0].FileName, name)
			assert.Equal(t, "attached payload\n", string(emb[0].Data), name)
		}
	})
	t.Run("a lying /Length, no specification, UTF-16 names", func(t *testing.T) {
		file := "%PDF-1.7\n" +
			"7 0 obj\n<< /Type /EmbeddedFile /Length 3 >>\nstream\nlonger than three\nendstream\nendobj\n" +
			"8 0 obj\n<< /Type/EmbeddedFile/Filter/FlateDecode >>\nstream\n" + deflate("second") + "\nendstream\nendobj\n" +
			"9 0 obj\n<< /Type /Filespec /F (ignored.txt) /UF (\xfe\xff\x00n\x00a\x00m\x00e) /EF << /F 8 0 R >> >>\nendobj\n" +
			"10 0 obj\n<< /Type /EmbeddedFile /Filter /ASCIIHexDecode >>\nstream\n414243\nendstream\nendobj\n"
		got, err := streams(t, []byte(file), wide)
		require.NoError(t, err)
		require.Len(t, got, 2, "other filters are skipped")
		assert.Equal(t, pdf.Stream{Object: 7, Embedded: true, Data: []byte("longer than three")}, got[0])
		assert.Equal(t, pdf.Stream{Object: 8, Embedded: true, FileName: "name", Data: []byte("second")}, got[1])
	})
	t.Run("limits", func(t *testing.T) {
		file := samples.PDFAttachment("a.bin", bytes.Repeat([]byte{0, 1, 2, 3}, 1000))
		got, err := streams(t, file, pdf.StreamLimits{MaxStreams: 100, MaxStreamBytes: 100, MaxTotalBytes: 1 << 20})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.True(t, got[0].Truncated)
		assert.Len(t, got[0].Data, 100)
		got, err = streams(t, file, pdf.StreamLimits{MaxStreams: 0, MaxStreamBytes: 100, MaxTotalBytes: 1 << 20})
		assert.ErrorIs(t, err, pdf.ErrStreamLimit)
		assert.Empty(t, got)
	})
}

// TestStreamsEmbeddedQpdf has qpdf, where installed, list the attachment
// of the sample and attach a file itself, as a real writer lays it out.
func TestStreamsEmbeddedQpdf(t *testing.T) {
	if _, err := exec.LookPath("qpdf"); err != nil {
		testenv.SkipRequired(t, "qpdf is needed for the cross-check (scripts/infra.sh installs it)")
	}
	dir := t.TempDir()
	sample := filepath.Join(dir, "sample.pdf")
	require.NoError(t, os.WriteFile(sample, samples.PDFAttachment("eicar.com", []byte(samples.EICAR)), 0o600))
	out, err := exec.Command("qpdf", "--list-attachments", sample).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "eicar.com -> 4,0")
	out, err = exec.Command("qpdf", "--show-attachment=eicar.com", sample).Output()
	require.NoError(t, err)
	assert.Equal(t, samples.EICAR, string(out))

	for name, extra := range map[string][]string{"plain": nil, "object streams": {"--object-streams=generate"}} {
		t.Run(name, func(t *testing.T) {
			payload := filepath.Join(dir, "payload.bin")
			require.NoError(t, os.WriteFile(payload, samples.PlainPE(), 0o600))
			plain := filepath.Join(dir, "plain.pdf")
			require.NoError(t, os.WriteFile(plain, samples.PDFPlain(), 0o600))
			attached := filepath.Join(dir, "attached.pdf")
			args := append([]string{plain, attached, "--add-attachment", payload, "--key=tool.exe", "--filename=tool.exe", "--"}, extra...)
			out, err := exec.Command("qpdf", args...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			b, err := os.ReadFile(attached)
			require.NoError(t, err)
			got, err := streams(t, b, wide)
			require.NoError(t, err)
			emb := embeddedOnly(got)
			require.Len(t, emb, 1)
			assert.Equal(t, "tool.exe", emb[0].FileName)
			assert.Equal(t, samples.PlainPE(), emb[0].Data)
		})
	}
}
