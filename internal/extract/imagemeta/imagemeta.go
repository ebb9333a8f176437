// Package imagemeta reads the dimensions and EXIF properties of JPEG, PNG,
// GIF, WebP and TIFF images from their headers, without decoding pixels.
// GPS data is reported only as present or absent: coordinates are never
// read.
package imagemeta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	_ "image/gif" // register decoders for DecodeConfig
	_ "image/jpeg"
	_ "image/png"
	"io"
)

// Info is the image metadata of a file (metadata["image"]).
type Info struct {
	Format string `json:"format"` // "jpeg", "png", "gif", "webp" or "tiff"
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Exif is true when the image carries EXIF data; the fields below come
	// from it.
	Exif        bool   `json:"exif"`
	CameraMake  string `json:"cameraMake,omitempty"`
	CameraModel string `json:"cameraModel,omitempty"`
	// TakenAt is DateTimeOriginal (else DateTime) in RFC 3339, with the
	// recorded offset if any, else without a zone.
	TakenAt     string `json:"takenAt,omitempty"`
	Software    string `json:"software,omitempty"`
	Orientation int    `json:"orientation,omitempty"` // 1-8, as in EXIF
	GPSPresent  bool   `json:"gpsPresent"`
}

// ErrUnknown is returned for data that is none of the supported formats.
var ErrUnknown = errors.New("imagemeta: unknown image format")

// maxSegments bounds the JPEG segments or PNG/RIFF chunks walked.
const maxSegments = 10_000

// Read returns the metadata of the image in src (size bytes). It reads only
// headers. Damaged EXIF data is ignored; damaged image headers are an error.
func Read(src io.ReaderAt, size int64) (*Info, error) {
	head := make([]byte, 16)
	n, _ := src.ReadAt(head, 0)
	head = head[:n]
	info := &Info{}
	var (
		x   exif
		err error
		has bool
	)
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xd8}):
		info.Format = "jpeg"
		x, has = jpegExif(src, size)
		err = decodeConfig(src, size, info)
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		info.Format = "png"
		x, has = pngExif(src, size)
		err = decodeConfig(src, size, info)
	case bytes.HasPrefix(head, []byte("GIF8")):
		info.Format = "gif"
		err = decodeConfig(src, size, info)
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		info.Format = "webp"
		x, has, err = webp(src, size, info)
	case bytes.HasPrefix(head, []byte("II*\x00")) || bytes.HasPrefix(head, []byte("MM\x00*")):
		info.Format = "tiff"
		x, err = parseTIFF(src, 0, size)
		has = err == nil && (x.make != "" || x.model != "" || x.software != "" || x.dateTime != "" ||
			x.dateTimeOriginal != "" || x.orientation != 0 || x.gps)
		info.Width, info.Height = x.width, x.height
	default:
		return nil, ErrUnknown
	}
	if has {
		info.Exif = true
		info.CameraMake, info.CameraModel, info.Software = x.make, x.model, x.software
		info.TakenAt = exifTime(x.dateTimeOriginal, x.offsetTimeOriginal)
		if info.TakenAt == "" {
			info.TakenAt = exifTime(x.dateTime, "")
		}
		if x.orientation >= 1 && x.orientation <= 8 {
			info.Orientation = x.orientation
		}
		info.GPSPresent = x.gps
	}
	return info, err
}

func decodeConfig(src io.ReaderAt, size int64, info *Info) error {
	cfg, _, err := image.DecodeConfig(io.NewSectionReader(src, 0, size))
	if err != nil {
		return err
	}
	info.Width, info.Height = cfg.Width, cfg.Height
	return nil
}

// jpegExif finds the APP1 "Exif" segment among the segments before the
// image data.
func jpegExif(src io.ReaderAt, size int64) (exif, bool) {
	off := int64(2)
	hdr := make([]byte, 10)
	for range maxSegments {
		if off+4 > size {
			break
		}
		if _, err := src.ReadAt(hdr[:4], off); err != nil {
			break
		}
		if hdr[0] != 0xff {
			break
		}
		marker := hdr[1]
		if marker == 0xff { // fill byte
			off++
			continue
		}
		if marker == 0xd9 || marker == 0xda { // end of image, start of scan
			break
		}
		if marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7) { // no length
			off += 2
			continue
		}
		l := int64(binary.BigEndian.Uint16(hdr[2:4]))
		if l < 2 {
			break
		}
		if marker == 0xe1 && l >= 8 {
			if _, err := src.ReadAt(hdr[:6], off+4); err == nil && string(hdr[:6]) == "Exif\x00\x00" {
				x, err := parseTIFF(src, off+10, min(l-8, size-off-10))
				return x, err == nil
			}
		}
		off += 2 + l
	}
	return exif{}, false
}

// pngExif finds the eXIf chunk.
func pngExif(src io.ReaderAt, size int64) (exif, bool) {
	off := int64(8)
	hdr := make([]byte, 8)
	for range maxSegments {
		if off+8 > size {
			break
		}
		if _, err := src.ReadAt(hdr, off); err != nil {
			break
		}
		l := int64(binary.BigEndian.Uint32(hdr[:4]))
		switch string(hdr[4:8]) {
		case "eXIf":
			x, err := parseTIFF(src, off+8, min(l, size-off-8))
			return x, err == nil
		case "IEND":
			return exif{}, false
		}
		off += 12 + l
	}
	return exif{}, false
}

// webp reads the dimensions from the VP8X, VP8 or VP8L chunk and the EXIF
// chunk of a WebP.
func webp(src io.ReaderAt, size int64, info *Info) (exif, bool, error) {
	var (
		x      exif
		has    bool
		sized  bool
		off    = int64(12)
		hdr    = make([]byte, 8)
		body   = make([]byte, 10)
		errDim = errors.New("imagemeta: webp without dimensions")
	)
	for range maxSegments {
		if off+8 > size {
			break
		}
		if _, err := src.ReadAt(hdr, off); err != nil {
			break
		}
		l := int64(binary.LittleEndian.Uint32(hdr[4:]))
		data := off + 8
		n, _ := src.ReadAt(body, data)
		b := body[:min(int64(n), l)]
		switch string(hdr[:4]) {
		case "VP8X":
			if len(b) >= 10 && !sized {
				info.Width = int(uint32(b[4])|uint32(b[5])<<8|uint32(b[6])<<16) + 1
				info.Height = int(uint32(b[7])|uint32(b[8])<<8|uint32(b[9])<<16) + 1
				sized = true
			}
		case "VP8L":
			if len(b) >= 5 && b[0] == 0x2f && !sized {
				bits := binary.LittleEndian.Uint32(b[1:5])
				info.Width = int(bits&0x3fff) + 1
				info.Height = int(bits>>14&0x3fff) + 1
				sized = true
			}
		case "VP8 ":
			if len(b) >= 10 && b[3] == 0x9d && b[4] == 0x01 && b[5] == 0x2a && !sized {
				info.Width = int(binary.LittleEndian.Uint16(b[6:]) & 0x3fff)
				info.Height = int(binary.LittleEndian.Uint16(b[8:]) & 0x3fff)
				sized = true
			}
		case "EXIF":
			start, n := data, min(l, size-data)
			// Some writers keep the JPEG "Exif\0\0" prefix.
			if n >= 6 {
				p := make([]byte, 6)
				if _, err := src.ReadAt(p, start); err == nil && string(p) == "Exif\x00\x00" {
					start, n = start+6, n-6
				}
			}
			if e, err := parseTIFF(src, start, n); err == nil {
				x, has = e, true
			}
		}
		off = data + l + l%2
	}
	if !sized {
		return x, has, errDim
	}
	return x, has, nil
}
