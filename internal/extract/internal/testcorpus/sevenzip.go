package testcorpus

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"unicode/utf16"

	"github.com/ulikunitz/xz/lzma"
)

// SevenZipOptions choose how a generated 7z archive is written.
type SevenZipOptions struct {
	EncodeHeader bool // compress the header with LZMA, as 7-Zip does
	Encrypted    bool // mark the data folder as AES-encrypted (the data stays plain)
}

// SevenZip returns a 7z archive of files: data stored (copy codec) in one
// folder; names ending in "/" are directories.
func SevenZip(o SevenZipOptions, files ...File) []byte {
	var data []byte
	var sizes []uint64
	var empty []bool
	anyEmpty := false
	for _, f := range files {
		isDir := strings.HasSuffix(f.Name, "/")
		if isDir || len(f.Body) == 0 {
			empty = append(empty, true)
			anyEmpty = true
			continue
		}
		empty = append(empty, false)
		data = append(data, f.Body...)
		sizes = append(sizes, uint64(len(f.Body)))
	}
	var h []byte
	num := func(v uint64) { h = append(h, num7z(v)...) }
	h = append(h, 0x01) // kHeader
	if len(sizes) > 0 {
		h = append(h, 0x04, 0x06) // kMainStreamsInfo, kPackInfo
		num(0)
		num(1)
		h = append(h, 0x09) // kSize
		num(uint64(len(data)))
		h = append(h, 0x00, 0x07, 0x0b) // kEnd, kUnpackInfo, kFolder
		num(1)
		h = append(h, 0x00) // not external
		num(1)              // one coder
		if o.Encrypted {
			h = append(h, 0x04, 0x06, 0xf1, 0x07, 0x01)
		} else {
			h = append(h, 0x01, 0x00)
		}
		h = append(h, 0x0c) // kCodersUnpackSize
		num(uint64(len(data)))
		h = append(h, 0x00, 0x08, 0x0d) // kEnd, kSubStreamsInfo, kNumUnpackStream
		num(uint64(len(sizes)))
		if len(sizes) > 1 {
			h = append(h, 0x09)
			for _, s := range sizes[:len(sizes)-1] {
				num(s)
			}
		}
		h = append(h, 0x00, 0x00) // kEnd (substreams), kEnd (streams)
	}
	h = append(h, 0x05) // kFilesInfo
	num(uint64(len(files)))
	if anyEmpty {
		bits := bitVector(empty)
		h = append(h, 0x0e)
		num(uint64(len(bits)))
		h = append(h, bits...)
		// Empty files that are not directories.
		var ef []bool
		for i, f := range files {
			if empty[i] {
				ef = append(ef, !strings.HasSuffix(f.Name, "/"))
			}
		}
		bits = bitVector(ef)
		h = append(h, 0x0f)
		num(uint64(len(bits)))
		h = append(h, bits...)
	}
	var names []byte
	names = append(names, 0) // not external
	for _, f := range files {
		for _, u := range utf16.Encode([]rune(strings.TrimSuffix(f.Name, "/"))) {
			names = binary.LittleEndian.AppendUint16(names, u)
		}
		names = append(names, 0, 0)
	}
	h = append(h, 0x11)
	num(uint64(len(names)))
	h = append(h, names...)
	h = append(h, 0x00, 0x00) // kEnd (files), kEnd (header)

	body := data
	if o.EncodeHeader {
		var buf bytes.Buffer
		w, err := lzma.WriterConfig{Size: int64(len(h)), SizeInHeader: true}.NewWriter(&buf)
		if err != nil {
			panic(err)
		}
		_, _ = w.Write(h)
		_ = w.Close()
		lz := buf.Bytes()
		props, packed := lz[:5], lz[13:]
		packPos := uint64(len(body))
		body = append(body, packed...)
		var e []byte
		e = append(e, 0x17, 0x06) // kEncodedHeader, kPackInfo
		e = append(e, num7z(packPos)...)
		e = append(e, num7z(1)...)
		e = append(e, 0x09)
		e = append(e, num7z(uint64(len(packed)))...)
		e = append(e, 0x00, 0x07, 0x0b)
		e = append(e, num7z(1)...)
		e = append(e, 0x00)
		e = append(e, num7z(1)...)
		e = append(e, 0x23, 0x03, 0x01, 0x01) // LZMA, with properties
		e = append(e, num7z(5)...)
		e = append(e, props...)
		e = append(e, 0x0c)
		e = append(e, num7z(uint64(len(h)))...)
		e = append(e, 0x00, 0x00)
		h = e
	}
	sig := []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0, 4, 0, 0, 0, 0}
	sig = binary.LittleEndian.AppendUint64(sig, uint64(len(body)))
	sig = binary.LittleEndian.AppendUint64(sig, uint64(len(h)))
	sig = binary.LittleEndian.AppendUint32(sig, crc32.ChecksumIEEE(h))
	binary.LittleEndian.PutUint32(sig[8:], crc32.ChecksumIEEE(sig[12:32]))
	out := append(sig, body...)
	return append(out, h...)
}

func num7z(v uint64) []byte {
	// The first byte's leading ones count the bytes that follow; its
	// remaining bits hold the value's highest bits.
	for n := 0; n < 8; n++ {
		if v < uint64(1)<<(7*(n+1)) {
			first := byte(0xff << (8 - n))
			first |= byte(v >> (8 * n))
			out := []byte{first}
			for i := range n {
				out = append(out, byte(v>>(8*i)))
			}
			return out
		}
	}
	out := []byte{0xff}
	return binary.LittleEndian.AppendUint64(out, v)
}

func bitVector(bits []bool) []byte {
	out := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		if b {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}
