package pdf

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/intellidox/intellidox/internal/extract/archive"
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
	tc.WriteSeeds(t, "FuzzEncrypted", encryptedSeeds()...)
	tc.WriteSeeds(t, "FuzzStreams", append(pdfSeeds(), samples.PDFObjStmJavaScript(),
		samples.PDFAttachment("report.exe", samples.PlainPE()),
		tc.PDF(tc.PDFOptions{EmbeddedFile: true, ObjectStream: true, Version: "1.5", EscapeNames: true}),
		[]byte("%PDF-1.7\n7 0 obj\n<< /Type /EmbeddedFile /Length 3 >>\nstream\nlonger than three\nendstream\nendobj\n"+
			"9 0 obj\n<< /F (a.txt) /UF (\xfe\xff\x00n) /EF << /F 7 0 R /UF 7 0 R >> >>\nendobj\n"))...)
}

// encryptedSeeds are encrypted PDFs for FuzzEncrypted: the AES-256
// sample, and the fake /Encrypt of the test corpus.
func encryptedSeeds() [][]byte {
	return [][]byte{
		samples.PDFObjStmJavaScriptEncrypted("infected"),
		samples.PDFObjStmJavaScriptEncrypted("user-pw"),
		tc.PDF(tc.PDFOptions{Encrypted: true, Title: "T", JavaScript: true}),
		tc.PDF(tc.PDFOptions{Encrypted: true, ObjectStream: true, Version: "1.6"}),
	}
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

// FuzzEncrypted checks that reading the security handler, trying
// passwords and reading decrypted strings and streams stay within their
// limits on any input. Where qpdf is installed, the files it encrypts
// with each cipher are added to the seeds (they differ on every run).
func FuzzEncrypted(f *testing.F) {
	if _, err := exec.LookPath("qpdf"); err == nil {
		dir := f.TempDir()
		in := filepath.Join(dir, "in.pdf")
		if err := os.WriteFile(in, samples.PDFObjStmJavaScript(), 0o600); err != nil {
			f.Fatal(err)
		}
		for i, args := range [][]string{{"40"}, {"128", "--use-aes=n"}, {"128", "--use-aes=y"}, {"256"}} {
			out := filepath.Join(dir, fmt.Sprintf("out%d.pdf", i))
			cmd := append([]string{"--allow-weak-crypto", "--encrypt", "user-pw", "owner-pw"}, args...)
			if msg, err := exec.Command("qpdf", append(cmd, "--", in, out)...).CombinedOutput(); err != nil {
				f.Fatalf("qpdf: %v: %s", err, msg)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	lists := []archive.Passwords{{Source: "test", List: []string{"infected", "user-pw"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			ctx := context.Background()
			sec, err := Encryption(ctx, bytes.NewReader(data), int64(len(data)))
			if sec == nil {
				if err == nil && bytes.Contains(data, []byte("/Encrypt")) {
					info, _ := Scan(ctx, bytes.NewReader(data), 1<<20)
					if info.sec != nil {
						t.Fatalf("Scan finds a handler that Encryption does not")
					}
				}
				return
			}
			_ = sec.Method()
			dec, _, ok := sec.Unlock(lists)
			if !ok {
				return
			}
			info, _ := ScanDecrypted(ctx, bytes.NewReader(data), 1<<20, dec)
			if info == nil || info.PageCount < 0 {
				t.Errorf("bad info %+v", info)
			}
			lim := StreamLimits{MaxStreams: 8, MaxStreamBytes: 1 << 12, MaxTotalBytes: 1 << 14, Decrypter: dec}
			n, total := 0, 0
			_ = Streams(ctx, bytes.NewReader(data), int64(len(data)), lim, func(s Stream) error {
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
