package office_test

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/extract/office"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// The examples of MS-OVBA section 3.2, byte for byte.
func TestDecompressOVBASpecExamples(t *testing.T) {
	cases := []struct{ name, compressed, want string }{
		{"no compression", "01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E",
			"abcdefghijklmnopqrstuv."},
		{"normal compression", "01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C 00 30 6D 6E 6F 70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C",
			"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := office.DecompressOVBA(unhex(t, c.compressed), 1<<20)
			require.NoError(t, err)
			assert.Equal(t, c.want, string(got))
		})
	}
}

func TestDecompressOVBARoundTrip(t *testing.T) {
	src := []byte(strings.Repeat(samples.ShellMacroSource, 200)) // several chunks
	packed := samples.OVBACompress(src)
	assert.Less(t, len(packed), len(src)/4, "copy tokens were used")
	got, err := office.DecompressOVBA(packed, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, src, got)

	// A raw (uncompressed) 4096-byte chunk.
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(i*7919>>3) ^ byte(i)
	}
	got, err = office.DecompressOVBA(samples.OVBACompress(noise), 1<<20)
	require.NoError(t, err)
	assert.Equal(t, noise, got)
}

func TestDecompressOVBABounds(t *testing.T) {
	src := []byte(strings.Repeat("a", 40_000))
	got, err := office.DecompressOVBA(samples.OVBACompress(src), 1000)
	assert.ErrorIs(t, err, office.ErrTooLarge)
	assert.Len(t, got, 1000)

	for name, bad := range map[string]string{
		"empty":                "",
		"bad signature":        "02 19 B0 00 61",
		"bad chunk signature":  "01 19 A0 00 61",
		"copy before any byte": "01 03 B0 01 00 00",
		"offset beyond start":  "01 05 B0 02 61 00 F0",
		"short raw chunk":      "01 FF 3F 61 62 63",
		"copy token cut short": "01 03 B0 02 61 45",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := office.DecompressOVBA(unhex(t, bad), 1<<20)
			assert.ErrorIs(t, err, office.ErrOVBA)
		})
	}
}

func TestReadVBA(t *testing.T) {
	bin := samples.VBAProject(
		samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource},
		samples.VBAModule{Name: "ThisDocument", Source: "Attribute VB_Name = \"ThisDocument\"\r\n"})
	mods, err := office.ReadVBA(bytes.NewReader(bin), int64(len(bin)), office.VBALimits{})
	require.NoError(t, err)
	require.Len(t, mods, 2)
	names := []string{mods[0].Name, mods[1].Name}
	assert.ElementsMatch(t, []string{"Module1", "ThisDocument"}, names)
	for _, m := range mods {
		if m.Name == "Module1" {
			assert.Equal(t, samples.ShellMacroSource, string(m.Source))
		}
	}
	// The auto-exec name the older rule looks for is not in clear: there
	// is no identifier cache, and the compressed source splits it. (Other
	// words may be contiguous by chance of flag-byte alignment.)
	assert.NotContains(t, strings.ToLower(string(bin)), "autoopen")

	t.Run("the older sample without offsets", func(t *testing.T) {
		// MacroDocument's project has a dir stream naming only the module,
		// with its source at offset 0.
		zr := unzip(t, samples.MacroDocument())
		bin := zr["word/vbaProject.bin"]
		mods, err := office.ReadVBA(bytes.NewReader(bin), int64(len(bin)), office.VBALimits{})
		require.NoError(t, err)
		require.Len(t, mods, 1)
		assert.Contains(t, string(mods[0].Source), "Sub AutoOpen()")
	})
	t.Run("limits", func(t *testing.T) {
		mods, err := office.ReadVBA(bytes.NewReader(bin), int64(len(bin)), office.VBALimits{MaxModules: 1, MaxModuleBytes: 10})
		assert.ErrorIs(t, err, office.ErrTooManyModules)
		assert.ErrorIs(t, err, office.ErrTooLarge)
		require.Len(t, mods, 1)
		assert.True(t, mods[0].Truncated)
		assert.Len(t, mods[0].Source, 10)
	})
	t.Run("not OLE", func(t *testing.T) {
		_, err := office.ReadVBA(bytes.NewReader([]byte("plain text, not a compound file at all........")), 47, office.VBALimits{})
		assert.ErrorIs(t, err, office.ErrNotOLE)
	})
}

func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		out[f.Name], err = io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
	}
	return out
}

// A dir stream may name one module stream over and over (it decompresses to
// a megabyte from a few bytes): each stream is read and decoded once.
func TestReadVBARepeatedModuleRecords(t *testing.T) {
	mods := make([]samples.VBAModule, 40)
	for i := range mods {
		mods[i] = samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource}
	}
	bin := samples.VBAProject(mods...)
	got, err := office.ReadVBA(bytes.NewReader(bin), int64(len(bin)), office.VBALimits{MaxModules: 500})
	require.NoError(t, err)
	assert.Len(t, got, 1)
}
