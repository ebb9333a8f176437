package testcorpus

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// EXIF is what a generated image's EXIF block holds.
type EXIF struct {
	Make, Model, Software string
	DateTime              string // IFD0 modification time, "2006:01:02 15:04:05"
	DateTimeOriginal      string // Exif IFD, when the picture was taken
	OffsetTimeOriginal    string // Exif IFD, e.g. "+02:00"
	Orientation           int    // 0: absent
	GPS                   bool   // a GPS IFD with a latitude and longitude
	BigEndian             bool   // "MM" byte order rather than "II"
}

// tiffEntry is one IFD entry; values are laid out by tiffWriter.
type tiffEntry struct {
	tag, typ uint16
	count    uint32
	data     []byte // the value bytes, in the file's byte order
	ifd      *[]tiffEntry
}

type tiffWriter struct {
	bo interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
}

func (w tiffWriter) ascii(tag uint16, s string) tiffEntry {
	b := append([]byte(s), 0)
	return tiffEntry{tag: tag, typ: 2, count: uint32(len(b)), data: b}
}

func (w tiffWriter) short(tag uint16, v uint16) tiffEntry {
	return tiffEntry{tag: tag, typ: 3, count: 1, data: w.bo.AppendUint16(nil, v)}
}

func (w tiffWriter) long(tag uint16, v uint32) tiffEntry {
	return tiffEntry{tag: tag, typ: 4, count: 1, data: w.bo.AppendUint32(nil, v)}
}

func (w tiffWriter) rationals(tag uint16, vs ...uint32) tiffEntry {
	var b []byte
	for _, v := range vs {
		b = w.bo.AppendUint32(b, v)
		b = w.bo.AppendUint32(b, 1)
	}
	return tiffEntry{tag: tag, typ: 5, count: uint32(len(vs)), data: b}
}

// layout writes the IFD at the end of out (at offset base+len(out)) and
// everything it points to, and returns out.
func (w tiffWriter) layout(out []byte, base int, entries []tiffEntry) []byte {
	start := len(out)
	size := 2 + 12*len(entries) + 4
	dataAt := start + size
	var data []byte
	var subs []int // indexes of sub-IFD entries
	body := w.bo.AppendUint16(nil, uint16(len(entries)))
	for i, e := range entries {
		body = w.bo.AppendUint16(body, e.tag)
		body = w.bo.AppendUint16(body, e.typ)
		body = w.bo.AppendUint32(body, e.count)
		switch {
		case e.ifd != nil:
			subs = append(subs, i)
			body = append(body, 0, 0, 0, 0) // patched below
		case len(e.data) <= 4:
			v := make([]byte, 4)
			copy(v, e.data)
			body = append(body, v...)
		default:
			body = w.bo.AppendUint32(body, uint32(base+dataAt+len(data)))
			data = append(data, e.data...)
			if len(data)%2 == 1 {
				data = append(data, 0)
			}
		}
	}
	body = append(body, 0, 0, 0, 0) // no next IFD
	out = append(out, body...)
	out = append(out, data...)
	for _, i := range subs {
		at := len(out)
		w.bo.PutUint32(out[start+2+12*i+8:], uint32(base+at))
		out = w.layout(out, base, *entries[i].ifd)
	}
	return out
}

// entries returns the IFD0 entries for e.
func (e EXIF) entries(w tiffWriter) []tiffEntry {
	var ifd0, exif, gps []tiffEntry
	if e.Make != "" {
		ifd0 = append(ifd0, w.ascii(0x010f, e.Make))
	}
	if e.Model != "" {
		ifd0 = append(ifd0, w.ascii(0x0110, e.Model))
	}
	if e.Orientation != 0 {
		ifd0 = append(ifd0, w.short(0x0112, uint16(e.Orientation)))
	}
	if e.Software != "" {
		ifd0 = append(ifd0, w.ascii(0x0131, e.Software))
	}
	if e.DateTime != "" {
		ifd0 = append(ifd0, w.ascii(0x0132, e.DateTime))
	}
	if e.DateTimeOriginal != "" {
		exif = append(exif, w.ascii(0x9003, e.DateTimeOriginal))
	}
	if e.OffsetTimeOriginal != "" {
		exif = append(exif, w.ascii(0x9011, e.OffsetTimeOriginal))
	}
	if len(exif) > 0 {
		ifd0 = append(ifd0, tiffEntry{tag: 0x8769, typ: 4, count: 1, ifd: &exif})
	}
	if e.GPS {
		gps = []tiffEntry{
			{tag: 0x0000, typ: 1, count: 4, data: []byte{2, 3, 0, 0}},
			w.ascii(0x0001, "N"), w.rationals(0x0002, 48, 51, 24),
			w.ascii(0x0003, "E"), w.rationals(0x0004, 2, 21, 3),
		}
		ifd0 = append(ifd0, tiffEntry{tag: 0x8825, typ: 4, count: 1, ifd: &gps})
	}
	return ifd0
}

func (e EXIF) writer() (tiffWriter, []byte) {
	if e.BigEndian {
		return tiffWriter{bo: binary.BigEndian}, []byte{'M', 'M', 0, 42, 0, 0, 0, 8}
	}
	return tiffWriter{bo: binary.LittleEndian}, []byte{'I', 'I', 42, 0, 8, 0, 0, 0}
}

// TIFF returns the EXIF block as a TIFF structure (what an APP1 segment
// carries after "Exif\0\0").
func (e EXIF) TIFF() []byte {
	w, hdr := e.writer()
	return w.layout(hdr, 0, e.entries(w))
}

func picture(wd, ht int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, wd, ht))
	for y := range ht {
		for x := range wd {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), 128, 255})
		}
	}
	return img
}

// JPEG returns a wd×ht JPEG, with an APP1 EXIF segment if exif is not nil.
func JPEG(wd, ht int, exif *EXIF) []byte {
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, picture(wd, ht), &jpeg.Options{Quality: 50})
	b := buf.Bytes()
	if exif == nil {
		return b
	}
	payload := append([]byte("Exif\x00\x00"), exif.TIFF()...)
	seg := []byte{0xff, 0xe1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	seg = append(seg, payload...)
	return append(append(append([]byte{}, b[:2]...), seg...), b[2:]...)
}

// PNG returns a wd×ht PNG, with an eXIf chunk if exif is not nil.
func PNG(wd, ht int, exif *EXIF) []byte {
	var buf bytes.Buffer
	_ = png.Encode(&buf, picture(wd, ht))
	b := buf.Bytes()
	if exif == nil {
		return b
	}
	const ihdrEnd = 8 + 8 + 13 + 4
	return append(append(append([]byte{}, b[:ihdrEnd]...), pngChunk("eXIf", exif.TIFF())...), b[ihdrEnd:]...)
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// GIF returns a wd×ht GIF.
func GIF(wd, ht int) []byte {
	var buf bytes.Buffer
	_ = gif.Encode(&buf, picture(wd, ht), nil)
	return buf.Bytes()
}

// WebP returns an extended-format (VP8X) WebP of wd×ht with an EXIF chunk
// if exif is not nil, or a simple lossless one. The bitstream holds only its
// header: enough for any reader of dimensions, not for decoding pixels.
func WebP(wd, ht int, exif *EXIF) []byte {
	vp8l := []byte{0x2f}
	bits := uint32(wd-1) | uint32(ht-1)<<14
	vp8l = binary.LittleEndian.AppendUint32(vp8l, bits)
	vp8l = append(vp8l, 0, 0, 0) // padding where the image data would be
	var chunks []byte
	if exif != nil {
		x := []byte{0x08, 0, 0, 0} // flags: EXIF present
		x = append(x, le24(wd-1)...)
		x = append(x, le24(ht-1)...)
		chunks = append(chunks, riffChunk("VP8X", x)...)
	}
	chunks = append(chunks, riffChunk("VP8L", vp8l)...)
	if exif != nil {
		chunks = append(chunks, riffChunk("EXIF", exif.TIFF())...)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(chunks)))
	out = append(out, "WEBP"...)
	return append(out, chunks...)
}

func le24(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }

func riffChunk(typ string, data []byte) []byte {
	c := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// TIFFImage returns a wd×ht 8-bit grayscale TIFF image whose IFD0 also
// carries exif's tags.
func TIFFImage(wd, ht int, exif EXIF) []byte {
	w, hdr := exif.writer()
	pixels := make([]byte, wd*ht)
	entries := []tiffEntry{
		w.long(0x0100, uint32(wd)), w.long(0x0101, uint32(ht)),
		w.short(0x0102, 8), w.short(0x0103, 1), w.short(0x0106, 1),
		w.long(0x0111, 0), // StripOffsets, patched below
		w.short(0x0115, 1), w.long(0x0116, uint32(ht)), w.long(0x0117, uint32(len(pixels))),
	}
	entries = append(entries, exif.entries(w)...)
	sortEntries(entries)
	out := w.layout(hdr, 0, entries)
	// Patch StripOffsets to point after the structure.
	n := int(w.bo.Uint16(out[8:]))
	for i := range n {
		at := 8 + 2 + 12*i
		if w.bo.Uint16(out[at:]) == 0x0111 {
			w.bo.PutUint32(out[at+8:], uint32(len(out)))
		}
	}
	return append(out, pixels...)
}

func sortEntries(es []tiffEntry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].tag < es[j-1].tag; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}
