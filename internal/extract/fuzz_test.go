package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func TestFuzzSeeds(t *testing.T) {
	tc.WriteSeeds(t, "FuzzInspect",
		tc.PDF(tc.PDFOptions{JavaScript: true, ObjectStream: true, Version: "1.5"}),
		tc.JPEG(8, 8, &tc.EXIF{Make: "M", GPS: true}),
		tc.OOXML(tc.OOXMLOptions{VBAProject: true}),
		tc.OLE("WordDocument", "Macros"),
		tc.Nested(3),
		tc.TarGz(tc.File{Name: "a", Body: []byte("a")}),
		tc.PE(tc.PEOptions{Imports: map[string][]string{"K.dll": {"f"}}}),
		tc.ELF(1),
		[]byte("plain text\n"),
	)
}

// FuzzInspect runs the whole analysis: it must return hashes and
// JSON-serializable metadata for any input, within its time limit.
func FuzzInspect(f *testing.F) {
	lim := DefaultLimits()
	lim.MaxDuration = 5 * time.Second
	lim.MaxArchiveEntries = 100
	lim.MaxUncompressedSize = 8 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			s, err := Inspect(context.Background(), bytes.NewReader(data), bytes.NewReader(data), int64(len(data)),
				Options{Name: "f.pdf", DeclaredContentType: "application/pdf", Limits: lim})
			if err != nil {
				t.Error(err)
			}
			if len(s.SHA256) != 64 || s.Size != int64(len(data)) {
				t.Errorf("bad summary %+v", s)
			}
			for _, f := range s.Findings {
				if f.Code == "parser_error" {
					t.Errorf("a parser panicked: %s", f.Message) // recovered in production, a bug all the same
				}
			}
			if _, err := json.Marshal(s.Metadata); err != nil {
				t.Error(err)
			}
		})
	})
}
