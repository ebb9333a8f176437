package pdf

import (
	"bytes"
	"context"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/scan/samples"
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

func TestFuzzSeeds(t *testing.T) {
	tc.WriteSeeds(t, "FuzzScan", pdfSeeds()...)
	tc.WriteSeeds(t, "FuzzStreams", append(pdfSeeds(), samples.PDFObjStmJavaScript(),
		samples.PDFAttachment("report.exe", samples.PlainPE()),
		tc.PDF(tc.PDFOptions{EmbeddedFile: true, ObjectStream: true, Version: "1.5", EscapeNames: true}),
		[]byte("%PDF-1.7\n7 0 obj\n<< /Type /EmbeddedFile /Length 3 >>\nstream\nlonger than three\nendstream\nendobj\n"+
			"9 0 obj\n<< /F (a.txt) /UF (\xfe\xff\x00n) /EF << /F 7 0 R /UF 7 0 R >> >>\nendobj\n"))...)
}

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

// FuzzStreams checks that stream inflation, embedded files included, stays
// within its limits on any input.
func FuzzStreams(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			lim := StreamLimits{MaxStreams: 8, MaxStreamBytes: 1 << 12, MaxTotalBytes: 1 << 14}
			n, total := 0, 0
			_ = Streams(context.Background(), bytes.NewReader(data), int64(len(data)), lim, func(s Stream) error {
				n++
				total += len(s.Data)
				if int64(len(s.Data)) > lim.MaxStreamBytes {
					t.Fatalf("stream of %d bytes, limit %d", len(s.Data), lim.MaxStreamBytes)
				}
				return nil
			})
			if n > lim.MaxStreams || int64(total) > lim.MaxTotalBytes {
				t.Fatalf("%d streams, %d bytes: beyond %+v", n, total, lim)
			}
		})
	})
}
