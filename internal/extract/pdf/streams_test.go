package pdf_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/extract/pdf"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

var wide = pdf.StreamLimits{MaxStreams: 100, MaxStreamBytes: 1 << 20, MaxTotalBytes: 1 << 20}

func streams(t *testing.T, b []byte, lim pdf.StreamLimits) ([]pdf.Stream, error) {
	t.Helper()
	var out []pdf.Stream
	err := pdf.Streams(context.Background(), bytes.NewReader(b), lim, func(s pdf.Stream) error {
		out = append(out, s)
		return nil
	})
	return out, err
}

func deflate(s string) string {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

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
	err = pdf.Streams(ctx, bytes.NewReader(file), wide, func(pdf.Stream) error { return nil })
	assert.ErrorIs(t, err, context.Canceled)
}
