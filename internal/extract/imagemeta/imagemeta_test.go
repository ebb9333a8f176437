package imagemeta

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
)

func read(data []byte) (*Info, error) { return Read(bytes.NewReader(data), int64(len(data))) }

func TestRead(t *testing.T) {
	camera := &tc.EXIF{Make: "Canon", Model: "Canon EOS R5", Software: "Firmware 1.8.1",
		DateTime: "2024:05:18 09:00:00", DateTimeOriginal: "2024:05:17 10:30:15", OffsetTimeOriginal: "+02:00",
		Orientation: 6, GPS: true}
	phone := &tc.EXIF{Make: "Apple", Model: "iPhone 15", DateTimeOriginal: "2023:12:24 18:05:00", Orientation: 1, BigEndian: true}
	edited := &tc.EXIF{Software: "GIMP 2.10", DateTime: "2022:02:02 02:02:02"}
	tests := []struct {
		name string
		data []byte
		want Info
	}{
		{"jpeg with exif and gps", tc.JPEG(64, 48, camera), Info{Format: "jpeg", Width: 64, Height: 48, Exif: true,
			CameraMake: "Canon", CameraModel: "Canon EOS R5", Software: "Firmware 1.8.1",
			TakenAt: "2024-05-17T10:30:15+02:00", Orientation: 6, GPSPresent: true}},
		{"jpeg, big-endian exif without gps", tc.JPEG(17, 33, phone), Info{Format: "jpeg", Width: 17, Height: 33, Exif: true,
			CameraMake: "Apple", CameraModel: "iPhone 15", TakenAt: "2023-12-24T18:05:00", Orientation: 1}},
		{"jpeg without exif", tc.JPEG(8, 8, nil), Info{Format: "jpeg", Width: 8, Height: 8}},
		{"png with exif", tc.PNG(30, 20, camera), Info{Format: "png", Width: 30, Height: 20, Exif: true,
			CameraMake: "Canon", CameraModel: "Canon EOS R5", Software: "Firmware 1.8.1",
			TakenAt: "2024-05-17T10:30:15+02:00", Orientation: 6, GPSPresent: true}},
		{"png, taken-at from DateTime", tc.PNG(5, 6, edited), Info{Format: "png", Width: 5, Height: 6, Exif: true,
			Software: "GIMP 2.10", TakenAt: "2022-02-02T02:02:02"}},
		{"png without exif", tc.PNG(3, 2, nil), Info{Format: "png", Width: 3, Height: 2}},
		{"gif", tc.GIF(12, 7), Info{Format: "gif", Width: 12, Height: 7}},
		{"webp with exif", tc.WebP(640, 480, phone), Info{Format: "webp", Width: 640, Height: 480, Exif: true,
			CameraMake: "Apple", CameraModel: "iPhone 15", TakenAt: "2023-12-24T18:05:00", Orientation: 1}},
		{"webp lossless", tc.WebP(100, 3000, nil), Info{Format: "webp", Width: 100, Height: 3000}},
		{"tiff", tc.TIFFImage(9, 4, *camera), Info{Format: "tiff", Width: 9, Height: 4, Exif: true,
			CameraMake: "Canon", CameraModel: "Canon EOS R5", Software: "Firmware 1.8.1",
			TakenAt: "2024-05-17T10:30:15+02:00", Orientation: 6, GPSPresent: true}},
		{"tiff without exif tags", tc.TIFFImage(2, 2, tc.EXIF{BigEndian: true}), Info{Format: "tiff", Width: 2, Height: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(tt.data)
			require.NoError(t, err)
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestReadDamaged(t *testing.T) {
	_, err := read([]byte("hello"))
	assert.ErrorIs(t, err, ErrUnknown)
	j := tc.JPEG(10, 10, &tc.EXIF{Make: "X", GPS: true})
	for cut := 0; cut < len(j); cut += 7 {
		assert.NotPanics(t, func() { _, _ = read(j[:cut]) })
	}
	// A loop of IFDs pointing at themselves ends.
	x := (&tc.EXIF{Make: "Loop"}).TIFF()
	x[4], x[5], x[6], x[7] = 8, 0, 0, 0
	e, err := parseTIFF(bytes.NewReader(x), 0, int64(len(x)))
	require.NoError(t, err)
	assert.Equal(t, "Loop", e.make)
}

func TestExifTime(t *testing.T) {
	assert.Equal(t, "2024-05-17T10:30:15", exifTime("2024:05:17 10:30:15", ""))
	assert.Equal(t, "2024-05-17T10:30:15-04:00", exifTime("2024:05:17 10:30:15", "-04:00"))
	assert.Equal(t, "", exifTime("0000:00:00 00:00:00", ""))
	assert.Equal(t, "", exifTime("yesterday", ""))
}

// TestReadAgreesWithExiftool checks the generated EXIF, and this reader,
// against exiftool where it is installed.
func TestReadAgreesWithExiftool(t *testing.T) {
	if _, err := exec.LookPath("exiftool"); err != nil {
		t.Skip("exiftool not installed")
	}
	x := &tc.EXIF{Make: "Nikon", Model: "Z 6", Software: "Ver.1.00", DateTimeOriginal: "2021:07:04 12:00:01", Orientation: 8, GPS: true}
	data := tc.JPEG(40, 30, x)
	path := filepath.Join(t.TempDir(), "a.jpg")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	out, err := exec.Command("exiftool", "-s", "-Make", "-Model", "-Software", "-DateTimeOriginal", "-Orientation#", "-GPSLatitude", "-ImageWidth", path).Output()
	require.NoError(t, err)
	fields := map[string]string{}
	for line := range strings.SplitSeq(string(out), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	got, err := read(data)
	require.NoError(t, err)
	assert.Equal(t, fields["Make"], got.CameraMake)
	assert.Equal(t, fields["Model"], got.CameraModel)
	assert.Equal(t, fields["Software"], got.Software)
	assert.Equal(t, fields["Orientation"], "8")
	assert.Equal(t, fields["ImageWidth"], "40")
	assert.NotEmpty(t, fields["GPSLatitude"])
	assert.True(t, got.GPSPresent)
	assert.Equal(t, strings.NewReplacer(":", "-").Replace(fields["DateTimeOriginal"][:10])+"T"+fields["DateTimeOriginal"][11:], got.TakenAt)
}
