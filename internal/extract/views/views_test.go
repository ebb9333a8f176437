package views_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
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

// noise is n bytes of a fixed pseudo-random sequence.
func noise(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

// base64Text is the base64 of n bytes of noise, on one line.
func base64Text(n int) []byte {
	return []byte(base64.StdEncoding.EncodeToString(noise(n)))
}

func vbaBin() []byte {
	return samples.VBAProject(samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource},
		samples.VBAModule{Name: "Module2", Source: "Attribute VB_Name = \"Module2\"\r\n"})
}

func TestDecode(t *testing.T) {
	t.Run("no views for other files, and only their first bytes read", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"zip":         samples.MacroDocumentShell(), // its members are the engine's business
			"pe":          samples.PlainPE(),
			"10 KB noise": noise(10_000),
			"1 MB noise":  noise(1_000_000),
			// Text in its head, binary after: sniffed as binary.
			"image": append(append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte("A"), 2000)...), base64Text(4096)...),
		} {
			got, read := decode(t, views.NewDecoder(views.Limits{}), b)
			assert.Empty(t, got, name)
			assert.LessOrEqual(t, read, 1024, name)
		}
	})
	t.Run("text without blobs: read, no views", func(t *testing.T) {
		b := bytes.Repeat([]byte("plain text "), 100_000)
		d := views.NewDecoder(views.Limits{})
		got, read := decode(t, d, b)
		assert.Empty(t, got)
		assert.Equal(t, len(b)+1024, read, "the head, then the text once")
		assert.Empty(t, d.Findings())
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

func names(vs []views.View) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind+" "+v.Name)
	}
	return out
}

func TestBlobs(t *testing.T) {
	t.Run("a script carrying an executable in base64, wrapped at 76", func(t *testing.T) {
		ps := samples.PowerShellEmbeddedPE()
		got, _ := decode(t, views.NewDecoder(views.Limits{}), ps)
		require.Len(t, got, 1)
		at := bytes.Index(ps, []byte("TVoA"))
		assert.Equal(t, views.View{Kind: views.KindBase64, Name: fmt.Sprintf("base64@%d", at), Data: samples.PlainPE()}, got[0])
	})
	t.Run("an encoded PowerShell command: UTF-16LE inside", func(t *testing.T) {
		got, _ := decode(t, views.NewDecoder(views.Limits{}), samples.PowerShellEncodedCommand())
		require.Len(t, got, 1)
		assert.Equal(t, utf16le(samples.DownloadCradle), got[0].Data)
	})
	payload := noise(300)
	b64 := base64.StdEncoding.EncodeToString(payload)
	cases := []struct {
		name, text string
		want       []string // kind@offset
		data       []byte
	}{
		{"hex", "x = \"" + hex.EncodeToString(payload) + "\"\n", []string{"hex@5"}, payload},
		{"upper-case hex, wrapped at 128", "{\\objdata\n" + wrap(strings.ToUpper(hex.EncodeToString(payload)), 128, "\r\n") + "}", []string{"hex@10"}, payload},
		{"URL alphabet, unpadded", "token=" + base64.RawURLEncoding.EncodeToString(payload) + "&x=1", []string{"base64@6"}, payload},
		{"padded, then more text", b64 + "\nnext line", []string{"base64@0"}, payload},
		{"two blobs", b64 + " and " + hex.EncodeToString(payload), []string{"base64@0", fmt.Sprintf("hex@%d", len(b64)+5)}, nil},
		{"below the threshold", base64.StdEncoding.EncodeToString(payload[:255]), nil, nil},
		{"at the threshold", base64.StdEncoding.EncodeToString(payload[:256]), []string{"base64@0"}, payload[:256]},
		{"a long rule of dashes is not base64", strings.Repeat("-", 2000), nil, nil},
		{"nor one of digits", strings.Repeat("0123456789", 200), nil, nil},
		{"nor words on lines of their own", strings.Repeat("Supercalifragilistic\n", 200), nil, nil},
		{"short lines are not joined", wrap(b64, 12, "\n"), nil, nil},
		{"a blank line ends a run", wrap(b64[:200], 50, "\n") + "\n\n" + wrap(b64[200:], 50, "\n"), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _ := decode(t, views.NewDecoder(views.Limits{}), []byte(c.text))
			var at []string
			for _, v := range got {
				at = append(at, v.Name)
			}
			assert.Equal(t, c.want, at)
			if c.data != nil && len(got) > 0 {
				assert.Equal(t, c.data, got[0].Data)
			}
		})
	}
	t.Run("UTF-16LE text, with and without a byte-order mark", func(t *testing.T) {
		text := "$x = '" + b64 + "'\r\n"
		for name, b := range map[string][]byte{"bom": append([]byte{0xff, 0xfe}, utf16le(text)...), "no bom": utf16le(text)} {
			got, _ := decode(t, views.NewDecoder(views.Limits{}), b)
			require.Len(t, got, 1, name)
			assert.Equal(t, payload, got[0].Data, name)
			assert.Equal(t, fmt.Sprintf("base64@%d", bytes.Index(b, utf16le("'"))+2), got[0].Name, name)
		}
	})
	t.Run("minimum size is a limit", func(t *testing.T) {
		got, _ := decode(t, views.NewDecoder(views.Limits{MinBlobBytes: 1000}), []byte(b64))
		assert.Empty(t, got)
	})
}

func deflate(s string) string { return string(tc.Zlib([]byte(s))) }

func wrap(s string, n int, eol string) string {
	var lines []string
	for len(s) > n {
		lines = append(lines, s[:n])
		s = s[n:]
	}
	return strings.Join(append(lines, s), eol)
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

func TestBlobLimits(t *testing.T) {
	blob := string(base64Text(300))
	t.Run("text beyond MaxTextBytes is not searched, and a note says so", func(t *testing.T) {
		text := []byte(strings.Repeat("padding line\n", 100) + blob + "\n")
		d := views.NewDecoder(views.Limits{MaxTextBytes: 1000})
		got, read := decode(t, d, text)
		assert.Empty(t, got)
		assert.LessOrEqual(t, read, 1024+1000)
		require.Len(t, d.Findings(), 1)
		assert.Equal(t, contract.Finding{Code: views.CodeViewsTextLimit,
			Message: "text beyond the first 1000 bytes was not searched for base64 and hex blobs"}, d.Findings()[0], "informational: no effect")
		d = views.NewDecoder(views.Limits{})
		got, _ = decode(t, d, text)
		assert.Len(t, got, 1, "within the default, the blob is found")
		assert.Empty(t, d.Findings())
	})
	t.Run("count", func(t *testing.T) {
		d := views.NewDecoder(views.Limits{MaxViews: 2})
		got, _ := decode(t, d, []byte(blob+" "+blob+" "+blob+" "))
		assert.Len(t, got, 2)
		require.Len(t, d.Findings(), 1)
		assert.Equal(t, contract.VerdictUnscanned, d.Findings()[0].Effect)
		assert.Contains(t, d.Findings()[0].Message, "some base64 and hex blobs were not decoded")
	})
	t.Run("size", func(t *testing.T) {
		d := views.NewDecoder(views.Limits{MaxViewBytes: 100})
		got, _ := decode(t, d, []byte(blob))
		require.Len(t, got, 1)
		assert.Len(t, got[0].Data, 100)
		require.Len(t, d.Findings(), 1)
		assert.Equal(t, "a decoded view exceeds the limit (base64@0; 100 bytes per view, 67108864 in all); the rest was not decoded", d.Findings()[0].Message)
	})
}

func TestEmbedded(t *testing.T) {
	t.Run("ole", func(t *testing.T) {
		got, _ := decode(t, views.NewDecoder(views.Limits{}), samples.DocEmbedding("payload.exe", samples.PlainPE()))
		require.Len(t, got, 1)
		assert.Equal(t, views.View{Kind: views.KindEmbedded, Name: "ole:embedded payload.exe", Data: samples.PlainPE()}, got[0])
	})
	t.Run("pdf", func(t *testing.T) {
		got, _ := decode(t, views.NewDecoder(views.Limits{}), samples.PDFAttachment("eicar.com", []byte(samples.EICAR)))
		require.Len(t, got, 1)
		assert.Equal(t, views.View{Kind: views.KindEmbedded, Name: "pdf:embedded eicar.com", Data: []byte(samples.EICAR)}, got[0])
	})
	t.Run("names are made safe to show", func(t *testing.T) {
		for label, want := range map[string]string{
			"C:/Users/x/evil.js":    "pdf:embedded evil.js",
			strings.Repeat("a", 70): "pdf:embedded " + strings.Repeat("a", 64) + "…",
			"":                      "pdf:embedded obj 4",
			"\\001\\033x":           "pdf:embedded x", // text strings lose their control characters
		} {
			got, _ := decode(t, views.NewDecoder(views.Limits{}), samples.PDFAttachment(label, []byte("x")))
			require.Len(t, got, 1, label)
			assert.Equal(t, want, got[0].Name, label)
		}
		doc := samples.CFB(samples.CFBEntry{Name: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "_2", Parent: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "Package", Parent: "_2", Data: samples.EICARZip()})
		got, _ := decode(t, views.NewDecoder(views.Limits{}), doc)
		require.Len(t, got, 1)
		assert.Equal(t, "ole:embedded ObjectPool/_2/Package", got[0].Name, "no label: the stream's path")
		got, _ = decode(t, views.NewDecoder(views.Limits{}), samples.DocEmbedding("invoice\xe2\x80\xaetxt.exe", []byte("x")))
		require.Len(t, got, 1)
		assert.Equal(t, "ole:embedded invoiceâ_®txt.exe", got[0].Name, "ANSI, read as Latin-1: U+0080 is a control")
	})
	t.Run("limits", func(t *testing.T) {
		doc := samples.DocEmbedding("payload.exe", samples.PlainPE())
		d := views.NewDecoder(views.Limits{MaxViewBytes: 100})
		got, _ := decode(t, d, doc)
		require.Len(t, got, 1)
		assert.Len(t, got[0].Data, 100)
		require.Len(t, d.Findings(), 1)
		assert.Contains(t, d.Findings()[0].Message, "(ole:embedded payload.exe; 100 bytes per view")

		d = views.NewDecoder(views.Limits{MaxViews: 1})
		got, _ = decode(t, d, vbaBin()) // one module of two
		assert.Len(t, got, 1)
		got, _ = decode(t, d, doc)
		assert.Empty(t, got)
		require.NotEmpty(t, d.Findings())
	})
}

func TestNestedViews(t *testing.T) {
	t.Run("the macro of a document attached to a PDF", func(t *testing.T) {
		got, _ := decode(t, views.NewDecoder(views.Limits{}), samples.PDFAttachment("orders.doc", vbaBin()))
		assert.Equal(t, []string{"embedded pdf:embedded orders.doc", "vba pdf:embedded orders.doc/vba:Module1",
			"vba pdf:embedded orders.doc/vba:Module2"}, names(got))
		assert.Equal(t, []byte(samples.ShellMacroSource), got[1].Data)
	})
	t.Run("a blob in a macro, and a command encoded twice", func(t *testing.T) {
		inner := base64.StdEncoding.EncodeToString(utf16le(samples.DownloadCradle))
		src := "Attribute VB_Name = \"Module1\"\r\nConst P = \"" + base64.StdEncoding.EncodeToString([]byte("powershell -enc "+inner)) + "\"\r\n"
		got, _ := decode(t, views.NewDecoder(views.Limits{}), samples.VBAProject(samples.VBAModule{Name: "Module1", Source: src}))
		assert.Equal(t, []string{"vba vba:Module1", "base64 vba:Module1/base64@42"}, names(got), "depth 2 is the last")
		text := []byte("x='" + base64.StdEncoding.EncodeToString([]byte("powershell -enc "+inner)) + "'")
		got, _ = decode(t, views.NewDecoder(views.Limits{}), text)
		assert.Equal(t, []string{"base64 base64@3", "base64 base64@3/base64@16"}, names(got))
		assert.Equal(t, utf16le(samples.DownloadCradle), got[1].Data)
	})
	t.Run("views of views spend the same budget", func(t *testing.T) {
		blob := string(base64Text(300))
		file := "%PDF-1.4\n" +
			"1 0 obj\n<< /Filter /FlateDecode >>\nstream\n" + deflate("% a "+blob+"\n") + "\nendstream\nendobj\n" +
			"2 0 obj\n<< /Filter /FlateDecode >>\nstream\n" + deflate("% b "+blob+"\n") + "\nendstream\nendobj\n"
		got, _ := decode(t, views.NewDecoder(views.Limits{}), []byte(file))
		assert.Equal(t, []string{"pdf-stream pdf:obj 1", "base64 pdf:obj 1/base64@4", "pdf-stream pdf:obj 2", "base64 pdf:obj 2/base64@4"}, names(got))
		for limit := 1; limit <= 3; limit++ {
			d := views.NewDecoder(views.Limits{MaxViews: limit})
			got, _ = decode(t, d, []byte(file))
			assert.Len(t, got, limit)
			require.Len(t, d.Findings(), 1, "limit %d", limit)
			assert.Equal(t, contract.VerdictUnscanned, d.Findings()[0].Effect)
		}
		d := views.NewDecoder(views.Limits{MaxTotalBytes: 400})
		got, _ = decode(t, d, []byte(file))
		total := 0
		for _, v := range got {
			total += len(v.Data)
		}
		assert.LessOrEqual(t, total, 400)
		assert.NotEmpty(t, d.Findings())
	})
	t.Run("deeper than MaxDepth: a finding", func(t *testing.T) {
		d := views.NewDecoder(views.Limits{})
		got, _ := decode(t, d, samples.PDFAttachment("a.pdf", samples.PDFAttachment("b.pdf", samples.PDFAttachment("c.txt", []byte("c")))))
		assert.Equal(t, []string{"embedded pdf:embedded a.pdf", "embedded pdf:embedded a.pdf/pdf:embedded b.pdf"}, names(got))
		require.Len(t, d.Findings(), 1)
		assert.Equal(t, "a decoded view holds views nested deeper than 2 (pdf:embedded a.pdf/pdf:embedded b.pdf); they were not decoded", d.Findings()[0].Message)
	})
}

// BenchmarkDecode measures Decode on files without views, where it must
// cost a 1 KiB read and nothing more (noise, as `make bench` uploads), on
// text without blobs (read once for the search), and on files with views.
func BenchmarkDecode(b *testing.B) {
	text := bytes.Repeat([]byte("An ordinary line of text, as in a log or a script.\n"), 2000)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"10KB-noise", noise(10_000)},
		{"100KB-noise", noise(100_000)},
		{"100KB-text", text[:100_000]},
		{"ps1-base64-pe", samples.PowerShellEmbeddedPE()},
		{"doc-embedded", samples.DocEmbedding("payload.exe", samples.PlainPE())},
		{"pdf-attachment", samples.PDFAttachment("report.exe", samples.PlainPE())},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				err := views.NewDecoder(views.Limits{}).Decode(context.Background(), bytes.NewReader(c.data), int64(len(c.data)),
					func(views.View) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
