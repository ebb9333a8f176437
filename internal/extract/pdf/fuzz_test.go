package pdf

import (
	"bytes"
	"context"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func pdfSeeds() [][]byte {
	return [][]byte{
		tc.PDF(tc.PDFOptions{Pages: 2, Title: "T", Author: "A", Producer: "P", CreationDate: "D:20240517103000+02'00'"}),
		tc.PDF(tc.PDFOptions{JavaScript: true, OpenAction: true, EmbeddedFile: true, Form: true}),
		tc.PDF(tc.PDFOptions{EscapeNames: true, JavaScript: true, Encrypted: true}),
		tc.PDF(tc.PDFOptions{ObjectStream: true, Version: "1.5", Title: "packed", UTF16Title: true, Form: true}),
		[]byte("%PDF-1.7\n1 0 obj <</A [1 2 R (x\\(y) <414>] /B<</C/D#20E>>>> endobj trailer <</Info 1 0 R>>"),
	}
}

func TestFuzzSeeds(t *testing.T) { tc.WriteSeeds(t, "FuzzScan", pdfSeeds()...) }

func FuzzScan(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			info, _ := Scan(context.Background(), bytes.NewReader(data), 1<<20)
			if info == nil || info.PageCount < 0 || info.ObjectCount < 0 {
				t.Errorf("bad info %+v", info)
			}
		})
	})
}
