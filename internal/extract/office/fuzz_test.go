package office

import (
	"archive/zip"
	"bytes"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func TestFuzzSeeds(t *testing.T) {
	tc.WriteSeeds(t, "FuzzOOXML",
		tc.OOXML(tc.OOXMLOptions{Title: "t", Creator: "c", Created: "2024-05-17T10:30:00Z", Application: "Word"}),
		tc.OOXML(tc.OOXMLOptions{Kind: "xlsx", VBAProject: true, MacroEnabled: true}),
		tc.OOXML(tc.OOXMLOptions{Kind: "pptx"}))
	tc.WriteSeeds(t, "FuzzOLE", tc.OLE("WordDocument", "Macros", "VBA"), tc.OLE("Workbook", "_VBA_PROJECT_CUR"),
		tc.OLE("PowerPoint Document", "a", "b", "c", "d", "e"))
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
