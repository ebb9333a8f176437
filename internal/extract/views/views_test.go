package views_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/views"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}

func decode(t *testing.T, d *views.Decoder, b []byte) ([]views.View, int) {
	t.Helper()
	src := &countingReader{r: bytes.NewReader(b)}
	var out []views.View
	require.NoError(t, d.Decode(context.Background(), src, int64(len(b)), func(v views.View) error {
		out = append(out, v)
		return nil
	}))
	return out, src.n
}

func vbaBin() []byte {
	return samples.VBAProject(samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource},
		samples.VBAModule{Name: "Module2", Source: "Attribute VB_Name = \"Module2\"\r\n"})
}

func TestDecode(t *testing.T) {
	t.Run("no views for other files, and only their first bytes read", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"text": bytes.Repeat([]byte("plain text "), 100_000),
			"zip":  samples.MacroDocumentShell(), // its members are the engine's business
			"pe":   samples.PlainPE(),
		} {
			got, read := decode(t, views.NewDecoder(views.Limits{}), b)
			assert.Empty(t, got, name)
			assert.LessOrEqual(t, read, 1024, name)
		}
	})
	t.Run("vba", func(t *testing.T) {
		d := views.NewDecoder(views.Limits{})
		got, _ := decode(t, d, vbaBin())
		require.Len(t, got, 2)
		assert.Equal(t, views.View{Kind: views.KindVBA, Name: "vba:Module1", Data: []byte(samples.ShellMacroSource)}, got[0])
		assert.Empty(t, d.Findings())
	})
	t.Run("pdf", func(t *testing.T) {
		got, _ := decode(t, views.NewDecoder(views.Limits{}), samples.PDFObjStmJavaScript())
		require.Len(t, got, 1)
		assert.Equal(t, views.KindPDFStream, got[0].Kind)
		assert.Equal(t, "pdf:objstm 5", got[0].Name)
	})
	t.Run("one budget over the files of a scan", func(t *testing.T) {
		d := views.NewDecoder(views.Limits{MaxViews: 3})
		got, _ := decode(t, d, vbaBin())
		assert.Len(t, got, 2)
		assert.Empty(t, d.Findings())
		got, _ = decode(t, d, vbaBin())
		assert.Len(t, got, 1)
		got, _ = decode(t, d, samples.PDFObjStmJavaScript())
		assert.Empty(t, got)
		require.Len(t, d.Findings(), 1, "one finding per limit, however often it trips")
		assert.Equal(t, contract.Finding{Code: views.CodeViewsLimit, Effect: contract.VerdictUnscanned,
			Message: "more decoded views than the limit of 3; some VBA modules were not decoded"}, d.Findings()[0])
	})
	t.Run("total bytes", func(t *testing.T) {
		d := views.NewDecoder(views.Limits{MaxTotalBytes: int64(len(samples.ShellMacroSource)) + 10})
		got, _ := decode(t, d, vbaBin())
		require.Len(t, got, 2)
		assert.Len(t, got[1].Data, 10)
		require.NotEmpty(t, d.Findings())
		assert.Equal(t, fmt.Sprintf("VBA source exceeds the limit of 8388608 bytes per view, %d in all; the rest was not decoded",
			len(samples.ShellMacroSource)+10), d.Findings()[0].Message)
	})
	t.Run("an error from fn stops decoding", func(t *testing.T) {
		d := views.NewDecoder(views.Limits{})
		b := vbaBin()
		err := d.Decode(context.Background(), bytes.NewReader(b), int64(len(b)), func(views.View) error { return io.ErrClosedPipe })
		assert.ErrorIs(t, err, io.ErrClosedPipe)
	})
}
