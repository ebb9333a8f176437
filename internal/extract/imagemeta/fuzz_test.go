package imagemeta

import (
	"bytes"
	"testing"
	"time"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func TestFuzzSeeds(t *testing.T) {
	x := &tc.EXIF{Make: "Canon", Model: "EOS", Software: "fw", DateTimeOriginal: "2024:05:17 10:30:15", OffsetTimeOriginal: "+02:00", Orientation: 6, GPS: true}
	be := &tc.EXIF{Make: "Apple", Model: "iPhone", BigEndian: true, GPS: true}
	tc.WriteSeeds(t, "FuzzRead", tc.JPEG(16, 8, x), tc.JPEG(4, 4, nil), tc.PNG(8, 4, be), tc.GIF(3, 3),
		tc.WebP(64, 32, x), tc.WebP(5, 5, nil), tc.TIFFImage(4, 2, *x))
	tc.WriteSeeds(t, "FuzzTIFF", x.TIFF(), be.TIFF(), (&tc.EXIF{}).TIFF())
}

func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			info, err := Read(bytes.NewReader(data), int64(len(data)))
			if err == nil && info == nil {
				t.Error("nil info without error")
			}
		})
	})
}

func FuzzTIFF(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tc.Within(t, 10*time.Second, func() {
			_, _ = parseTIFF(bytes.NewReader(data), 0, int64(len(data)))
		})
	})
}
