package office_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/extract/office"
	"github.com/intellidox/intellidox/internal/scan/samples"
	"github.com/intellidox/intellidox/internal/testenv"
)

func embedded(t *testing.T, b []byte, lim office.EmbeddedLimits) ([]office.Embedded, error) {
	t.Helper()
	var out []office.Embedded
	err := office.ReadEmbedded(bytes.NewReader(b), int64(len(b)), lim, func(e office.Embedded) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

func TestParseOle10Native(t *testing.T) {
	payload := []byte(samples.EICAR)
	cases := []struct {
		name, label string
		in, data    []byte
	}{
		{"packager", "eicar.com", samples.Ole10Native("eicar.com", `C:\x\eicar.com`, payload), payload},
		{"cut short: what there is", "eicar.com", cut(samples.Ole10Native("eicar.com", `C:\x\eicar.com`, payload), 10), payload[:len(payload)-10]},
		{"not the Packager layout: the native data", "", append([]byte{6, 0, 0, 0}, "\x07\x00abcd"...), []byte("\x07\x00abcd")},
		{"compact: flags, then data", "", append([]byte{6, 0, 0, 0}, "\x02\x00\x01xyz"...), []byte("\x01xyz")},
		{"size field shorter than the stream", "", append([]byte{2, 0, 0, 0}, "\x07\x00abcd"...), []byte("\x07\x00")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			label, data, err := office.ParseOle10Native(c.in)
			require.NoError(t, err)
			assert.Equal(t, c.label, label)
			assert.Equal(t, c.data, data)
		})
	}
	for name, in := range map[string][]byte{
		"empty":                   nil,
		"label not terminated":    append([]byte{0xff, 0xff, 0, 0, 2, 0}, bytes.Repeat([]byte("a"), 5000)...),
		"command length too long": packagerWithCommandLength(1 << 30),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := office.ParseOle10Native(in)
			assert.Error(t, err)
		})
	}
}

func cut(b []byte, n int) []byte { return b[:len(b)-n] }

type countingReaderAt struct {
	r        *bytes.Reader
	n, reads int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	n, err := c.r.ReadAt(p, off)
	c.n += n
	return n, err
}

func packagerWithCommandLength(n uint32) []byte {
	b := []byte{0, 0, 0, 0, 2, 0}
	b = append(b, "a.exe\x00C:\\a.exe\x00\x00\x00\x03\x00"...)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, "cmd"...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func TestReadEmbedded(t *testing.T) {
	t.Run("a Word document with a Packager object", func(t *testing.T) {
		got, err := embedded(t, samples.DocEmbedding("payload.exe", samples.PlainPE()), office.EmbeddedLimits{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, office.Embedded{Name: "payload.exe", Path: "ObjectPool/_1234567890/\x01Ole10Native", Data: samples.PlainPE()}, got[0])
	})
	t.Run("regular sectors, a Package stream, and limits", func(t *testing.T) {
		big := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16 000 bytes: a FAT chain, not the mini stream
		doc := samples.CFB(
			samples.CFBEntry{Name: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "_1", Parent: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "\x01Ole10Native", Parent: "_1", Data: samples.Ole10Native("big.bin", `C:\big.bin`, big)},
			samples.CFBEntry{Name: "_2", Parent: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "Package", Parent: "_2", Data: samples.EICARZip()},
		)
		got, err := embedded(t, doc, office.EmbeddedLimits{})
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, office.Embedded{Name: "big.bin", Path: "ObjectPool/_1/\x01Ole10Native", Data: big}, got[0])
		assert.Equal(t, office.Embedded{Path: "ObjectPool/_2/Package", Data: samples.EICARZip()}, got[1])

		got, err = embedded(t, doc, office.EmbeddedLimits{MaxObjects: 1})
		assert.ErrorIs(t, err, office.ErrTooManyObjects)
		assert.Len(t, got, 1)

		got, err = embedded(t, doc, office.EmbeddedLimits{MaxObjectBytes: 100})
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.True(t, got[0].Truncated)
		assert.Equal(t, big[:100], got[0].Data)

		got, err = embedded(t, doc, office.EmbeddedLimits{MaxTotalBytes: 16_000})
		assert.ErrorIs(t, err, office.ErrTooManyObjects)
		assert.Len(t, got, 1)
	})
	t.Run("damaged object streams count against the limit", func(t *testing.T) {
		var entries []samples.CFBEntry
		for i := range 50 {
			entries = append(entries, samples.CFBEntry{Name: fmt.Sprintf("_%d", i), Storage: true},
				samples.CFBEntry{Name: "\x01Ole10Native", Parent: fmt.Sprintf("_%d", i), Data: []byte("\xff\xff\x00\x00\x02\x00unterminated")})
		}
		doc := samples.CFB(entries...)
		src := &countingReaderAt{r: bytes.NewReader(doc)}
		err := office.ReadEmbedded(src, int64(len(doc)), office.EmbeddedLimits{MaxObjects: 2}, func(office.Embedded) error {
			t.Fatal("no object is whole")
			return nil
		})
		assert.ErrorIs(t, err, office.ErrTooManyObjects)
		src.n = 0
		_ = office.ReadEmbedded(src, int64(len(doc)), office.EmbeddedLimits{MaxObjects: 50}, func(office.Embedded) error { return nil })
		assert.Greater(t, src.reads, 0)
		few := src.reads
		src.reads = 0
		_ = office.ReadEmbedded(src, int64(len(doc)), office.EmbeddedLimits{MaxObjects: 2}, func(office.Embedded) error { return nil })
		assert.Less(t, src.reads, few/2, "two streams read, not fifty")
	})
	t.Run("no objects", func(t *testing.T) {
		got, err := embedded(t, samples.VBAProject(samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource}), office.EmbeddedLimits{})
		require.NoError(t, err)
		assert.Empty(t, got)
		_, err = embedded(t, []byte("not ole"), office.EmbeddedLimits{})
		assert.ErrorIs(t, err, office.ErrNotOLE)
	})
}

// TestEmbeddedAgainst7z has 7-Zip, which reads compound files, extract
// the Ole10Native stream of the sample document, so that the sample is a
// compound file another reader agrees with, and that what ReadEmbedded
// takes from the stream is what the stream holds after its header.
func TestEmbeddedAgainst7z(t *testing.T) {
	if _, err := exec.LookPath("7z"); err != nil {
		testenv.SkipRequired(t, "7z is needed for the cross-check (scripts/infra.sh installs it)")
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "embedding.doc")
	payload := bytes.Repeat([]byte("MZ payload "), 600) // in regular sectors
	require.NoError(t, os.WriteFile(doc, samples.DocEmbedding("payload.exe", payload), 0o600))
	out, err := exec.Command("7z", "x", "-y", "-o"+dir, doc).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var stream []byte
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && filepath.Base(p) != "embedding.doc" && bytes.Contains([]byte(filepath.Base(p)), []byte("Ole10Native")) {
			stream, err = os.ReadFile(p)
		}
		return err
	}))
	require.NotEmpty(t, stream, "7z extracted no Ole10Native stream: %s", out)
	label, data, err := office.ParseOle10Native(stream)
	require.NoError(t, err)
	assert.Equal(t, "payload.exe", label)
	assert.Equal(t, payload, data)
}
