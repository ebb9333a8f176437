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
	// TestOLEHostile's files are not seeds: at 19 KB each, the fuzzer spent
	// its time minimizing their offspring (137 inputs run in 300 s).
	tc.WriteSeeds(t, "FuzzOLE", tc.OLE("WordDocument", "Macros", "VBA"), tc.OLE("Workbook", "_VBA_PROJECT_CUR"),
		tc.OLE("PowerPoint Document", "a", "b", "c", "d", "e"))
	tc.WriteSeeds(t, "FuzzDecompressOVBA",
		samples.OVBACompress([]byte(samples.ShellMacroSource)),
		samples.OVBACompress(bytes.Repeat([]byte(samples.ShellMacroSource), 30)),
		samples.OVBACompress(bytes.Repeat([]byte{0x5a, 0xa5, 0x17, 0x3c, 0x99, 0x01, 0xfe}, 600)))
	tc.WriteSeeds(t, "FuzzReadVBA",
		samples.VBAProject(samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource},
			samples.VBAModule{Name: "ThisDocument", Source: "Attribute VB_Name = \"ThisDocument\"\r\n"}),
		unzipped(t, samples.MacroDocument(), "word/vbaProject.bin"),
		storagesSharingDir(20, vbaDir("Module1")), storagesSharingModule())
	tc.WriteSeeds(t, "FuzzOle10Native",
		samples.Ole10Native("payload.exe", `C:\Users\user\Desktop\payload.exe`, samples.PlainPE()),
		samples.Ole10Native("eicar.com", `C:\eicar.com`, []byte(samples.EICAR)),
		[]byte("\x09\x00\x00\x00\x02\x00\x01equation"),
		[]byte("\x06\x00\x00\x00\x07\x00native"))
	tc.WriteSeeds(t, "FuzzReadEmbedded",
		samples.DocEmbedding("payload.exe", samples.PlainPE()),
		samples.CFB(samples.CFBEntry{Name: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "_1", Parent: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "\x01Ole10Native", Parent: "_1", Data: samples.Ole10Native("a.txt", `C:\a.txt`, bytes.Repeat([]byte("a"), 5000))},
			samples.CFBEntry{Name: "_2", Parent: "ObjectPool", Storage: true},
			samples.CFBEntry{Name: "Package", Parent: "_2", Data: samples.EICARZip()}),
		samples.CFB(samples.CFBEntry{Name: "_1", Storage: true}, samples.CFBEntry{Name: "_2", Storage: true},
			samples.CFBEntry{Name: "\x01Ole10Native", Parent: "_1", Data: []byte("\xff\xff\x00\x00\x02\x00unterminated")},
			samples.CFBEntry{Name: "\x01Ole10Native", Parent: "_2", Data: []byte("\x05\x00\x00\x00\x02\x00\x01abc")}))
}

// FuzzOle10Native checks that parsing any Ole10Native stream returns a
// payload within the stream.
func FuzzOle10Native(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			label, payload, err := ParseOle10Native(data)
			if err != nil {
				return
			}
			if len(payload) > len(data) || len(label) > 4*maxNativeString {
				t.Fatalf("payload of %d bytes, label of %d, from %d bytes", len(payload), len(label), len(data))
			}
		})
	})
}

// FuzzReadEmbedded checks that reading the embedded objects of any
// compound file stays within the limits.
func FuzzReadEmbedded(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			lim := EmbeddedLimits{MaxObjects: 4, MaxObjectBytes: 1 << 12, MaxTotalBytes: 1 << 13}
			n, total := 0, 0
			_ = ReadEmbedded(bytes.NewReader(data), int64(len(data)), lim, func(e Embedded) error {
				n++
				total += len(e.Data)
				if int64(len(e.Data)) > lim.MaxObjectBytes {
					t.Fatalf("object %q of %d bytes, limit %d", e.Name, len(e.Data), lim.MaxObjectBytes)
				}
				return nil
			})
			if n > lim.MaxObjects || int64(total) > lim.MaxTotalBytes {
				t.Fatalf("%d objects, %d bytes: beyond %+v", n, total, lim)
			}
		})
	})
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

// FuzzOLE reads the directory of any compound file, then every stream the
// tree reaches: each read stays within the file's size.
func FuzzOLE(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			src, size := bytes.NewReader(data), int64(len(data))
			_, _ = ReadOLE(src, size)
			o, _ := openOLE(src, size)
			if o == nil {
				return
			}
			if len(o.entries) > maxDirEntries {
				t.Fatalf("%d directory entries, limit %d", len(o.entries), maxDirEntries)
			}
			for _, s := range o.streams() {
				if b, _ := o.stream(s.index, 1<<30); int64(len(b)) > size {
					t.Fatalf("stream %q: %d bytes from a file of %d", s.path, len(b), size)
				}
			}
		})
	})
}
