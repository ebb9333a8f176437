package office

import (
	"archive/zip"
	"bytes"
	"io"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

func TestFuzzSeeds(t *testing.T) {
	tc.WriteSeeds(t, "FuzzOOXML",
		tc.OOXML(tc.OOXMLOptions{Title: "t", Creator: "c", Created: "2024-05-17T10:30:00Z", Application: "Word"}),
		tc.OOXML(tc.OOXMLOptions{Kind: "xlsx", VBAProject: true, MacroEnabled: true}),
		tc.OOXML(tc.OOXMLOptions{Kind: "pptx"}))
	tc.WriteSeeds(t, "FuzzOLE", tc.OLE("WordDocument", "Macros", "VBA"), tc.OLE("Workbook", "_VBA_PROJECT_CUR"),
		tc.OLE("PowerPoint Document", "a", "b", "c", "d", "e"))
	tc.WriteSeeds(t, "FuzzDecompressOVBA",
		samples.OVBACompress([]byte(samples.ShellMacroSource)),
		samples.OVBACompress(bytes.Repeat([]byte(samples.ShellMacroSource), 30)),
		samples.OVBACompress(bytes.Repeat([]byte{0x5a, 0xa5, 0x17, 0x3c, 0x99, 0x01, 0xfe}, 600)))
	tc.WriteSeeds(t, "FuzzReadVBA",
		samples.VBAProject(samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource},
			samples.VBAModule{Name: "ThisDocument", Source: "Attribute VB_Name = \"ThisDocument\"\r\n"}),
		unzipped(t, samples.MacroDocument(), "word/vbaProject.bin"))
}

func unzipped(t *testing.T, b []byte, name string) []byte {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzDecompressOVBA checks that the decompressor stays within its bound on
// any input, and that what the test compressor writes comes back intact.
func FuzzDecompressOVBA(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			const limit = 1 << 16
			out, _ := DecompressOVBA(data, limit)
			if len(out) > limit {
				t.Fatalf("%d bytes out, limit %d", len(out), limit)
			}
			if len(data) <= 3000 { // one short chunk: always fits compressed
				back, err := DecompressOVBA(samples.OVBACompress(data), limit)
				if err != nil || !bytes.Equal(back, data) {
					t.Fatalf("round trip: %v, %q != %q", err, back, data)
				}
			}
		})
	})
}

// FuzzReadVBA checks that decoding the VBA project of any compound file
// stays within the module limits.
func FuzzReadVBA(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			lim := VBALimits{MaxModules: 4, MaxModuleBytes: 1 << 14}
			mods, _ := ReadVBA(bytes.NewReader(data), int64(len(data)), lim)
			if len(mods) > lim.MaxModules {
				t.Fatalf("%d modules, limit %d", len(mods), lim.MaxModules)
			}
			for _, m := range mods {
				if len(m.Source) > lim.MaxModuleBytes {
					t.Fatalf("module %s: %d bytes, limit %d", m.Name, len(m.Source), lim.MaxModuleBytes)
				}
			}
		})
	})
}

func FuzzOOXML(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
			if err != nil || len(zr.File) > 1000 {
				return
			}
			_ = ReadOOXML(zr)
		})
	})
}

func FuzzOLE(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			_, _ = ReadOLE(bytes.NewReader(data), int64(len(data)))
		})
	})
}
