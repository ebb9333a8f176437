package imagemeta

import (
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
)

// exif is what is read from a TIFF structure: an EXIF block, or a TIFF file.
type exif struct {
	make, model, software string
	dateTime              string // IFD0 DateTime
	dateTimeOriginal      string // Exif IFD
	offsetTimeOriginal    string // Exif IFD
	orientation           int
	gps                   bool
	width, height         int // IFD0 ImageWidth/ImageLength (TIFF files)
}

// Caps for hostile input.
const (
	maxIFDEntries = 1000
	maxString     = 256
)

var errNotTIFF = errors.New("imagemeta: not a TIFF structure")

// tiffReader reads a TIFF structure from r, whose offsets are relative to
// base.
type tiffReader struct {
	r    io.ReaderAt
	base int64
	size int64
	bo   binary.ByteOrder
	seen map[int64]bool
}

// parseTIFF reads IFD0 and its Exif and GPS sub-IFDs. It never reads the
// GPS coordinates: only whether they are there.
func parseTIFF(r io.ReaderAt, base, size int64) (exif, error) {
	var e exif
	hdr := make([]byte, 8)
	if size < 8 {
		return e, errNotTIFF
	}
	if _, err := r.ReadAt(hdr, base); err != nil {
		return e, errNotTIFF
	}
	t := &tiffReader{r: r, base: base, size: size, seen: map[int64]bool{}}
	switch string(hdr[:2]) {
	case "II":
		t.bo = binary.LittleEndian
	case "MM":
		t.bo = binary.BigEndian
	default:
		return e, errNotTIFF
	}
	if t.bo.Uint16(hdr[2:]) != 42 {
		return e, errNotTIFF
	}
	ifd0 := int64(t.bo.Uint32(hdr[4:]))
	entries, err := t.ifd(ifd0)
	if err != nil {
		return e, err
	}
	for _, en := range entries {
		switch en.tag {
		case 0x010f:
			e.make = t.ascii(en)
		case 0x0110:
			e.model = t.ascii(en)
		case 0x0131:
			e.software = t.ascii(en)
		case 0x0132:
			e.dateTime = t.ascii(en)
		case 0x0112:
			e.orientation = int(t.uint(en))
		case 0x0100:
			e.width = int(t.uint(en))
		case 0x0101:
			e.height = int(t.uint(en))
		case 0x8769:
			sub, err := t.ifd(int64(t.uint(en)))
			if err != nil {
				continue
			}
			for _, s := range sub {
				switch s.tag {
				case 0x9003:
					e.dateTimeOriginal = t.ascii(s)
				case 0x9011:
					e.offsetTimeOriginal = t.ascii(s)
				}
			}
		case 0x8825:
			sub, err := t.ifd(int64(t.uint(en)))
			if err != nil {
				continue
			}
			for _, s := range sub {
				if s.tag == 0x0002 || s.tag == 0x0004 { // GPSLatitude, GPSLongitude
					e.gps = true
				}
			}
		}
	}
	return e, nil
}

type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte // the 4 value-or-offset bytes
}

// ifd reads the entries of the IFD at off.
func (t *tiffReader) ifd(off int64) ([]ifdEntry, error) {
	if off < 8 || off+2 > t.size || t.seen[off] {
		return nil, errNotTIFF
	}
	t.seen[off] = true
	nb := make([]byte, 2)
	if _, err := t.r.ReadAt(nb, t.base+off); err != nil {
		return nil, err
	}
	n := int64(t.bo.Uint16(nb))
	n = min(n, maxIFDEntries, (t.size-off-2)/12)
	buf := make([]byte, 12*n)
	if _, err := t.r.ReadAt(buf, t.base+off+2); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	es := make([]ifdEntry, n)
	for i := range es {
		b := buf[12*i:]
		es[i] = ifdEntry{tag: t.bo.Uint16(b), typ: t.bo.Uint16(b[2:]), count: t.bo.Uint32(b[4:]), value: b[8:12]}
	}
	return es, nil
}

// uint returns a SHORT or LONG value.
func (t *tiffReader) uint(e ifdEntry) uint32 {
	switch e.typ {
	case 3:
		return uint32(t.bo.Uint16(e.value))
	case 4, 13:
		return t.bo.Uint32(e.value)
	case 1:
		return uint32(e.value[0])
	}
	return 0
}

// ascii returns an ASCII value, cleaned for display.
func (t *tiffReader) ascii(e ifdEntry) string {
	if e.typ != 2 && e.typ != 7 && e.typ != 1 {
		return ""
	}
	n := int64(min(e.count, maxString))
	var b []byte
	if e.count <= 4 {
		b = e.value[:min(n, 4)]
	} else {
		off := int64(t.bo.Uint32(e.value))
		if off+n > t.size {
			n = t.size - off
		}
		if n <= 0 {
			return ""
		}
		b = make([]byte, n)
		if _, err := t.r.ReadAt(b, t.base+off); err != nil && !errors.Is(err, io.EOF) {
			return ""
		}
	}
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return clean(string(b))
}

// clean drops control characters and invalid UTF-8 (read as Latin-1).
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			r = rune(s[i])
		}
		i += n
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			continue
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// exifTime turns "2006:01:02 15:04:05" (and an optional offset "+02:00")
// into RFC 3339, without a zone when none is recorded. It returns "" for
// anything else (cameras write "0000:00:00 00:00:00" when unset).
func exifTime(dt, offset string) string {
	if len(dt) < 19 || dt[4] != ':' || dt[7] != ':' || dt[10] != ' ' || dt[13] != ':' || dt[16] != ':' {
		return ""
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if dt[i] < '0' || dt[i] > '9' {
			return ""
		}
	}
	if dt[:4] == "0000" || dt[5:7] == "00" || dt[8:10] == "00" {
		return ""
	}
	s := dt[:4] + "-" + dt[5:7] + "-" + dt[8:10] + "T" + dt[11:19]
	if len(offset) == 6 && (offset[0] == '+' || offset[0] == '-') && offset[3] == ':' {
		s += offset
	}
	return s
}
