package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/ulikunitz/xz/lzma"
)

// 7z property IDs (7zFormat.txt).
const (
	k7zEnd              = 0x00
	k7zHeader           = 0x01
	k7zArchiveProps     = 0x02
	k7zAdditionalStream = 0x03
	k7zMainStreamsInfo  = 0x04
	k7zFilesInfo        = 0x05
	k7zPackInfo         = 0x06
	k7zUnpackInfo       = 0x07
	k7zSubStreamsInfo   = 0x08
	k7zSize             = 0x09
	k7zCRC              = 0x0a
	k7zFolder           = 0x0b
	k7zCodersUnpackSize = 0x0c
	k7zNumUnpackStream  = 0x0d
	k7zEmptyStream      = 0x0e
	k7zEmptyFile        = 0x0f
	k7zName             = 0x11
	k7zWinAttributes    = 0x15
	k7zEncodedHeader    = 0x17
	k7zDummy            = 0x19
)

// Caps for hostile 7z headers.
const (
	max7zHeader  = 64 << 20 // bytes of (decoded) header
	max7zItems   = 1 << 20  // files, folders, coders, streams
	max7zCoders  = 64       // coders in one folder
	max7zDictCap = 64 << 20 // LZMA dictionary for the encoded header
)

var err7z = errors.New("7z: malformed header")

// codec IDs that matter here.
var (
	codecCopy  = []byte{0x00}
	codecLZMA  = []byte{0x03, 0x01, 0x01}
	codecLZMA2 = []byte{0x21}
	codecAES   = []byte{0x06, 0xf1, 0x07, 0x01}
)

type coder7z struct {
	id     []byte
	props  []byte
	numIn  uint64
	numOut uint64
}

type folder7z struct {
	coders      []coder7z
	unpackSizes []uint64 // one per coder output stream
	numUnpack   uint64   // substreams (files) in this folder
	mainOut     int      // the output stream no bind pair consumes: the folder's result
}

func (f *folder7z) encrypted() bool {
	for _, c := range f.coders {
		if bytes.Equal(c.id, codecAES) {
			return true
		}
	}
	return false
}

// unpackSize is the size of the folder's final output.
func (f *folder7z) unpackSize() uint64 {
	if f.mainOut >= len(f.unpackSizes) {
		return 0
	}
	return f.unpackSizes[f.mainOut]
}

type streams7z struct {
	packPos   uint64
	packSizes []uint64
	folders   []folder7z
	subSizes  []uint64 // sizes of the unpacked streams (files), in order
	folderCRC []bool   // folders whose output has a CRC in the unpack info
}

// reader7z decodes the 7z header's primitives.
type reader7z struct {
	b   []byte
	pos int
	err error
}

func (r *reader7z) byte() byte {
	if r.err != nil || r.pos >= len(r.b) {
		r.err = err7z
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader7z) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)-r.pos) {
		r.err = err7z
		return nil
	}
	b := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return b
}

// uint16 and uint32 read little-endian integers; past the end they
// return 0 and set err.
func (r *reader7z) uint16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader7z) uint32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// number reads a 7z NUMBER: the leading one bits of the first byte say how
// many bytes follow.
func (r *reader7z) number() uint64 {
	first := r.byte()
	mask := byte(0x80)
	var v uint64
	for i := range 8 {
		if first&mask == 0 {
			return v | uint64(first&(mask-1))<<(8*i)
		}
		v |= uint64(r.byte()) << (8 * i)
		mask >>= 1
	}
	return v
}

// count reads a NUMBER used as an item count, bounded.
func (r *reader7z) count() int {
	n := r.number()
	if n > max7zItems || n > uint64(len(r.b)) {
		r.err = err7z
		return 0
	}
	return int(n)
}

func (r *reader7z) bits(n int) []bool {
	v := make([]bool, n)
	var b byte
	for i := range n {
		if i%8 == 0 {
			b = r.byte()
		}
		v[i] = b&(0x80>>(i%8)) != 0
	}
	return v
}

// digests skips a digests record for n streams, and returns which had one.
func (r *reader7z) digests(n int) []bool {
	all := r.byte()
	def := make([]bool, n)
	if all == 0 {
		def = r.bits(n)
	}
	for i := range n {
		if all != 0 {
			def[i] = true
		}
		if def[i] {
			r.bytes(4)
		}
	}
	return def
}

func (r *reader7z) packInfo(s *streams7z) {
	s.packPos = r.number()
	n := r.count()
	for r.err == nil {
		switch r.byte() {
		case k7zEnd:
			return
		case k7zSize:
			s.packSizes = make([]uint64, n)
			for i := range s.packSizes {
				s.packSizes[i] = r.number()
			}
		case k7zCRC:
			r.digests(n)
		default:
			r.err = err7z
		}
	}
}

func (r *reader7z) folder() folder7z {
	var f folder7z
	n := r.count()
	if n > max7zCoders {
		r.err = err7z
		return f
	}
	var outs, ins uint64
	for range n {
		flags := r.byte()
		c := coder7z{id: r.bytes(uint64(flags & 0x0f)), numIn: 1, numOut: 1}
		if flags&0x10 != 0 {
			c.numIn, c.numOut = r.number(), r.number()
			if c.numIn > max7zCoders || c.numOut > max7zCoders {
				r.err = err7z
				return f
			}
		}
		if flags&0x20 != 0 {
			c.props = r.bytes(r.number())
		}
		ins += c.numIn
		outs += c.numOut
		f.coders = append(f.coders, c)
	}
	if outs == 0 {
		r.err = err7z
		return f
	}
	bound := map[uint64]bool{}
	for range outs - 1 { // bind pairs: (in index, out index)
		r.number()
		bound[r.number()] = true
		if r.err != nil {
			return f
		}
	}
	for i := range outs {
		if !bound[i] {
			f.mainOut = int(i)
			break
		}
	}
	if ins < outs-1 { // more bind pairs than inputs: nonsense (and an underflow below)
		r.err = err7z
		return f
	}
	if packed := ins - (outs - 1); packed > 1 {
		for range packed {
			if r.number(); r.err != nil {
				return f
			}
		}
	}
	f.unpackSizes = make([]uint64, outs)
	return f
}

func (r *reader7z) unpackInfo(s *streams7z) {
	if r.byte() != k7zFolder {
		r.err = err7z
		return
	}
	n := r.count()
	if r.byte() != 0 { // external
		r.err = err7z
		return
	}
	s.folders = make([]folder7z, 0, min(n, 4096))
	for range n {
		if r.err != nil {
			return
		}
		s.folders = append(s.folders, r.folder())
	}
	if r.byte() != k7zCodersUnpackSize {
		r.err = err7z
		return
	}
	for i := range s.folders {
		for j := range s.folders[i].unpackSizes {
			s.folders[i].unpackSizes[j] = r.number()
		}
		s.folders[i].numUnpack = 1
	}
	for r.err == nil {
		switch r.byte() {
		case k7zEnd:
			return
		case k7zCRC:
			s.folderCRC = r.digests(len(s.folders))
		default:
			r.err = err7z
		}
	}
}

func (r *reader7z) subStreamsInfo(s *streams7z) {
	t := r.byte()
	if t == k7zNumUnpackStream {
		for i := range s.folders {
			s.folders[i].numUnpack = uint64(r.count())
		}
		t = r.byte()
	}
	var total uint64
	for _, f := range s.folders {
		total += f.numUnpack
	}
	if total > max7zItems {
		r.err = err7z
		return
	}
	hasSizes := t == k7zSize
	for _, f := range s.folders {
		if f.numUnpack == 0 {
			continue
		}
		var sum uint64
		for range f.numUnpack - 1 {
			v := uint64(0)
			if hasSizes {
				v = r.number()
			}
			s.subSizes = append(s.subSizes, v)
			sum += v
		}
		last := uint64(0)
		if f.unpackSize() >= sum {
			last = f.unpackSize() - sum
		}
		s.subSizes = append(s.subSizes, last)
	}
	if hasSizes {
		t = r.byte()
	}
	for r.err == nil {
		switch t {
		case k7zEnd:
			return
		case k7zCRC:
			n := 0 // streams whose CRC the unpack info did not give
			for i, f := range s.folders {
				if f.numUnpack != 1 || i >= len(s.folderCRC) || !s.folderCRC[i] {
					n += int(f.numUnpack)
				}
			}
			r.digests(n)
		default:
			r.err = err7z
			return
		}
		t = r.byte()
	}
}

func (r *reader7z) streamsInfo() *streams7z {
	s := &streams7z{}
	for r.err == nil {
		switch r.byte() {
		case k7zEnd:
			if s.subSizes == nil {
				for _, f := range s.folders {
					s.subSizes = append(s.subSizes, f.unpackSize())
				}
			}
			return s
		case k7zPackInfo:
			r.packInfo(s)
		case k7zUnpackInfo:
			r.unpackInfo(s)
		case k7zSubStreamsInfo:
			r.subStreamsInfo(s)
		default:
			r.err = err7z
		}
	}
	return s
}

type file7z struct {
	name      string
	dir       bool
	hasStream bool
	size      uint64
	encrypted bool
}

// filesInfo reads the file list; sizes are assigned afterwards.
func (r *reader7z) filesInfo() []file7z {
	n := r.count()
	files := make([]file7z, n)
	for i := range files {
		files[i].hasStream = true
	}
	var emptyStream []bool
	for r.err == nil {
		t := r.byte()
		if t == k7zEnd {
			return files
		}
		size := r.number()
		data := &reader7z{b: r.bytes(size)}
		if r.err != nil {
			return files
		}
		switch t {
		case k7zEmptyStream:
			emptyStream = data.bits(n)
			for i := range files {
				files[i].hasStream = !emptyStream[i]
				files[i].dir = emptyStream[i] // unless marked an empty file
			}
		case k7zEmptyFile:
			empties := 0
			for _, e := range emptyStream {
				if e {
					empties++
				}
			}
			ef := data.bits(empties)
			k := 0
			for i := range files {
				if emptyStream != nil && emptyStream[i] {
					if k < len(ef) && ef[k] {
						files[i].dir = false
					}
					k++
				}
			}
		case k7zName:
			if data.byte() != 0 { // external
				continue
			}
			for i := range files {
				var u []uint16
				for data.err == nil {
					c := data.uint16()
					if data.err != nil || c == 0 {
						break
					}
					if len(u) < 1024 {
						u = append(u, c)
					}
				}
				files[i].name = string(utf16.Decode(u))
			}
		case k7zWinAttributes:
			all := data.byte()
			var def []bool
			if all == 0 {
				def = data.bits(n)
			}
			if data.byte() != 0 { // external
				continue
			}
			for i := range files {
				if all != 0 || def[i] {
					if attr := data.uint32(); data.err == nil && attr&0x10 != 0 {
						files[i].dir = true
					}
				}
			}
		}
	}
	return files
}

// decodeHeader inflates an encoded header described by s.
func decodeHeader(src io.ReaderAt, size int64, s *streams7z) ([]byte, error) {
	if len(s.folders) == 1 && s.folders[0].encrypted() {
		return nil, errEncryptedHeader
	}
	if len(s.folders) != 1 || len(s.packSizes) < 1 || len(s.folders[0].coders) != 1 {
		return nil, errors.New("7z: unsupported encoded header layout")
	}
	f := s.folders[0]
	c := f.coders[0]
	unpack := f.unpackSize()
	if unpack > max7zHeader {
		return nil, fmt.Errorf("7z: header of %d bytes is over the limit", unpack)
	}
	off := int64(32) + int64(s.packPos)
	if s.packPos > uint64(size) || s.packSizes[0] > uint64(size) || off+int64(s.packSizes[0]) > size {
		return nil, err7z
	}
	packed := io.NewSectionReader(src, off, int64(s.packSizes[0]))
	var r io.Reader
	switch {
	case bytes.Equal(c.id, codecCopy):
		r = packed
	case bytes.Equal(c.id, codecLZMA) && len(c.props) == 5:
		hdr := append(append([]byte{}, c.props...), binary.LittleEndian.AppendUint64(nil, unpack)...)
		lr, err := lzma.ReaderConfig{DictCap: max7zDictCap}.NewReader(io.MultiReader(bytes.NewReader(hdr), packed))
		if err != nil {
			return nil, fmt.Errorf("7z: header: %w", err)
		}
		r = lr
	case bytes.Equal(c.id, codecLZMA2) && len(c.props) == 1:
		lr, err := lzma.Reader2Config{DictCap: max7zDictCap}.NewReader2(packed)
		if err != nil {
			return nil, fmt.Errorf("7z: header: %w", err)
		}
		r = lr
	case bytes.Equal(c.id, codecAES):
		return nil, errEncryptedHeader
	default:
		return nil, fmt.Errorf("7z: header compressed with codec %x", c.id)
	}
	out := make([]byte, unpack)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("7z: header: %w", err)
	}
	return out, nil
}

var errEncryptedHeader = errors.New("7z: the header is encrypted")

// list7z lists a 7z archive from its header: names, sizes, directories and
// encrypted members. Members are not decompressed, so nested archives in a
// 7z are not opened.
func (w *walker) list7z(src io.ReaderAt, size int64) error {
	sig := make([]byte, 32)
	if _, err := src.ReadAt(sig, 0); err != nil {
		w.finding(CodeMalformed, "", "7z archive could not be read: %v", err)
		return nil
	}
	next := binary.LittleEndian.Uint64(sig[12:])
	n := binary.LittleEndian.Uint64(sig[20:])
	if n > max7zHeader || next > uint64(size) || 32+next+n > uint64(size) {
		w.finding(CodeMalformed, "", "7z archive header is out of bounds")
		return nil
	}
	hdr := make([]byte, n)
	if _, err := src.ReadAt(hdr, int64(32+next)); err != nil {
		w.finding(CodeMalformed, "", "7z archive header could not be read: %v", err)
		return nil
	}
	r := &reader7z{b: hdr}
	for range 4 { // an encoded header may, in theory, encode another
		if len(r.b) == 0 || r.b[0] != k7zEncodedHeader {
			break
		}
		r.byte()
		s := r.streamsInfo()
		if r.err != nil {
			w.finding(CodeMalformed, "", "7z archive header is damaged")
			return nil
		}
		dec, err := decodeHeader(src, size, s)
		if errors.Is(err, errEncryptedHeader) {
			w.finding(CodeEncrypted, contract.VerdictUnscanned, "the 7z archive's file list is encrypted; nothing in it can be inspected")
			return nil
		}
		if err != nil {
			w.finding(CodeMalformed, "", "%v", err)
			return nil
		}
		r = &reader7z{b: dec}
	}
	if len(r.b) == 0 {
		return nil // an empty archive
	}
	if r.byte() != k7zHeader {
		w.finding(CodeMalformed, "", "7z archive header is damaged")
		return nil
	}
	var main *streams7z
	var files []file7z
	for r.err == nil {
		t := r.byte()
		if t == k7zEnd {
			break
		}
		switch t {
		case k7zArchiveProps:
			for r.err == nil && r.byte() != k7zEnd {
				r.bytes(r.number())
			}
		case k7zAdditionalStream:
			r.streamsInfo()
		case k7zMainStreamsInfo:
			main = r.streamsInfo()
		case k7zFilesInfo:
			files = r.filesInfo()
		default:
			r.err = err7z
		}
	}
	if r.err != nil && files == nil {
		w.finding(CodeMalformed, "", "7z archive header is damaged")
		return nil
	}
	// Streams go, in order, to the files that have one; a folder's
	// encryption applies to its substreams.
	var sizes []uint64
	var enc []bool
	if main != nil {
		sizes = main.subSizes
		for _, f := range main.folders {
			for range f.numUnpack {
				enc = append(enc, f.encrypted())
			}
		}
	}
	k := 0
	for i := range files {
		if files[i].hasStream && k < len(sizes) {
			files[i].size = sizes[k]
			files[i].encrypted = k < len(enc) && enc[k]
			k++
		}
	}
	for _, f := range files {
		w.addDeclared(f.size)
		w.info.TotalUncompressedSize += int64(min(f.size, 1<<62))
	}
	w.checkDeclared()
	for _, f := range files {
		e := Entry{Path: f.name, Size: int64(min(f.size, 1<<62)), Dir: f.dir, Encrypted: f.encrypted, Flags: pathFlags(f.name)}
		if !w.entry(e, 1) {
			return errStop
		}
	}
	if r.err != nil {
		w.finding(CodeMalformed, "", "7z archive header is damaged after the file list")
	}
	return nil
}
