package views

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"testing"
	"testing/iotest"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

func TestFuzzSeeds(t *testing.T) {
	payload := bytes.Repeat([]byte("IntelliDox\x00\x01\x02"), 30)
	tc.WriteSeeds(t, "FuzzBlobs",
		samples.PowerShellEmbeddedPE(),
		samples.PowerShellEncodedCommand(),
		[]byte("x = \""+hex.EncodeToString(payload)+"\"\r\n"+base64.RawURLEncoding.EncodeToString(payload)+"\nnext line"),
		append([]byte{0xff, 0xfe}, []byte("$\x00x\x00=\x00'\x00Q\x00U\x00J\x00D\x00")...))
	tc.WriteSeeds(t, "FuzzDecode",
		samples.PDFAttachment("a.doc", samples.DocEmbedding("b.ps1", samples.PowerShellEncodedCommand())),
		samples.DocEmbedding("payload.exe", samples.PlainPE()),
		samples.VBAProject(samples.VBAModule{Name: "Module1", Source: "x = \"" + base64.StdEncoding.EncodeToString(payload) + "\""}),
		samples.PDFObjStmJavaScript(),
		samples.PowerShellEmbeddedPE())
}

// FuzzDecode checks that the whole decoder, views of views included,
// stays within its limits on any input.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			lim := Limits{MaxViews: 8, MaxViewBytes: 1 << 12, MaxTotalBytes: 1 << 14, MinBlobBytes: 16, MaxTextBytes: 1 << 16}
			n, total := 0, 0
			err := NewDecoder(lim).Decode(context.Background(), bytes.NewReader(data), int64(len(data)), func(v View) error {
				n++
				total += len(v.Data)
				if int64(len(v.Data)) > lim.MaxViewBytes || v.Name == "" || v.Kind == "" {
					t.Fatalf("view %s %q of %d bytes, limits %+v", v.Kind, v.Name, len(v.Data), lim)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n > lim.MaxViews || int64(total) > lim.MaxTotalBytes {
				t.Fatalf("%d views, %d bytes: beyond %+v", n, total, lim)
			}
		})
	})
}

// FuzzBlobs checks that the blob finder streams: read a byte at a time it
// finds the same blobs, at the same offsets, as read whole; and that every
// blob is within the size limits.
func FuzzBlobs(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			const minBytes, maxBytes = 16, 64
			kind, skip := sniffText(data[:min(len(data), sniffSize)])
			if kind == notText {
				kind = text8 // the finder must cope with any bytes
			}
			find := func(oneByte bool) []blob {
				var out []blob
				f := newBlobFinder(minBytes, maxBytes, func(b blob) error {
					if len(b.data) > maxBytes || len(b.data) < minBytes && !b.truncated {
						t.Fatalf("blob of %d bytes, limits %d to %d", len(b.data), minBytes, maxBytes)
					}
					out = append(out, blob{kind: b.kind, offset: b.offset, data: slices.Clone(b.data), truncated: b.truncated})
					return nil
				})
				r := bytes.NewReader(data[skip:])
				var err error
				if oneByte {
					err = findBlobs(context.Background(), iotest.OneByteReader(r), kind, int64(skip), f)
				} else {
					err = findBlobs(context.Background(), r, kind, int64(skip), f)
				}
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			whole, bytewise := find(false), find(true)
			if len(whole) != len(bytewise) {
				t.Fatalf("%d blobs read whole, %d read bytewise", len(whole), len(bytewise))
			}
			for i := range whole {
				if whole[i].kind != bytewise[i].kind || whole[i].offset != bytewise[i].offset || !bytes.Equal(whole[i].data, bytewise[i].data) {
					t.Fatalf("blob %d: %+v read whole, %+v bytewise", i, whole[i], bytewise[i])
				}
				if whole[i].offset < int64(skip) || whole[i].offset >= int64(len(data)) {
					t.Fatalf("blob %d at %d, outside the text", i, whole[i].offset)
				}
			}
		})
	})
}
