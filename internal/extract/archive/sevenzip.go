package archive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/bodgit/sevenzip"
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

// Caps for hostile 7z headers. The library allocates per item counts it
// reads (up to 2^32 of them), so these bound its memory too: about 150 bytes
// per file at most.
const (
	max7zHeader = 16 << 20 // bytes of (decoded) header
	max7zItems  = 1 << 18  // files, folders, coders, streams
	max7zCoders = 64       // coders in one folder
)

var err7z = errors.New("7z: malformed header")

// codec IDs that matter here.
var (
	codecCopy  = []byte{0x00}
	codecLZMA  = []byte{0x03, 0x01, 0x01}
	codecLZMA2 = []byte{0x21}
	codecAES   = []byte{0x06, 0xf1, 0x07, 0x01}
	codecPPMd  = []byte{0x03, 0x04, 0x01}
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

// The 7z members are read by github.com/bodgit/sevenzip. The header reader
// above stays as a pre-flight check, because the library trusts the counts
// and sizes a header declares: a 41-byte 7z declaring 2^32 files makes its
// header parser allocate hundreds of gigabytes, a fatal out-of-memory that
// no recover catches (TestSevenZipHugeCountIsVetted). So every header is
// read here first, with every count bounded, and the library only sees
// archives whose header passed; the same read yields each folder's coders,
// whose dictionary sizes and key-derivation costs are checked before
// anything is decoded.

// vetted7z is what the pre-flight read of a 7z header found.
type vetted7z struct {
	folders []folder7z // main-stream folders, indexed like sevenzip's File.Stream
	// files are the header's files, in the library's order. The library
	// calls a file a directory by its attributes only; 7-Zip's own rule is
	// also "an empty stream that is not an empty file".
	files []file7z
	// header is the password that opened an encrypted header, if any.
	header *candidate
}

// MaxKeyDerivationPower bounds the key-derivation cost of 7z AES
// (2^n SHA-256 rounds). 7-Zip always writes 19; the library refuses more
// than 24, about a second per password here.
const MaxKeyDerivationPower = 22

// vet7z reads and checks the header of the 7z in src. It records a finding
// and returns nil when the archive must not be handed to the library.
func (w *walker) vet7z(prefix string, src io.ReaderAt, size int64) *vetted7z {
	where := strings.TrimSuffix(prefix, "/")
	sig := make([]byte, 32)
	if _, err := src.ReadAt(sig, 0); err != nil {
		w.finding(CodeMalformed, "", "7z archive %s could not be read: %v", where, err)
		return nil
	}
	next := binary.LittleEndian.Uint64(sig[12:])
	n := binary.LittleEndian.Uint64(sig[20:])
	if n > max7zHeader || next > uint64(size) || 32+next+n > uint64(size) {
		w.finding(CodeMalformed, "", "7z archive %s: header is out of bounds", where)
		return nil
	}
	hdr := make([]byte, n)
	if _, err := src.ReadAt(hdr, int64(32+next)); err != nil {
		w.finding(CodeMalformed, "", "7z archive %s: header could not be read: %v", where, err)
		return nil
	}
	v := &vetted7z{}
	r := &reader7z{b: hdr}
	for range 4 { // an encoded header may, in theory, encode another
		if len(r.b) == 0 || r.b[0] != k7zEncodedHeader {
			break
		}
		r.byte()
		s := r.streamsInfo()
		if r.err != nil {
			w.finding(CodeMalformed, "", "7z archive %s: header is damaged", where)
			return nil
		}
		dec, ok := w.decodeHeader7z(where, src, size, s, v)
		if !ok {
			return nil
		}
		r = &reader7z{b: dec}
	}
	if len(r.b) == 0 {
		return v // an empty archive
	}
	if r.byte() != k7zHeader {
		w.finding(CodeMalformed, "", "7z archive %s: header is damaged", where)
		return nil
	}
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
			if s := r.streamsInfo(); s != nil {
				v.folders = s.folders
			}
		case k7zFilesInfo:
			v.files = r.filesInfo()
		default:
			r.err = err7z
		}
	}
	if r.err != nil {
		w.finding(CodeMalformed, "", "7z archive %s: header is damaged", where)
		return nil
	}
	return v
}

// decodeHeader7z decodes an encoded header described by s, trying the
// passwords on an encrypted one. It records a finding when it cannot.
func (w *walker) decodeHeader7z(where string, src io.ReaderAt, size int64, s *streams7z, v *vetted7z) ([]byte, bool) {
	if len(s.folders) != 1 || len(s.packSizes) < 1 || len(s.folders[0].coders) > 2 {
		w.finding(CodeMalformed, "", "7z archive %s: unsupported encoded header layout", where)
		return nil, false
	}
	f := s.folders[0]
	unpack := f.unpackSize()
	if unpack > max7zHeader {
		w.finding(CodeMalformed, "", "7z archive %s: a header of %d bytes is over the limit", where, unpack)
		return nil, false
	}
	if !w.folderAffordable(where, f) {
		return nil, false
	}
	off := int64(32) + int64(s.packPos)
	if s.packPos > uint64(size) || s.packSizes[0] > uint64(size) || off+int64(s.packSizes[0]) > size {
		w.finding(CodeMalformed, "", "7z archive %s: header is out of bounds", where)
		return nil, false
	}
	packed := func() io.Reader { return io.NewSectionReader(src, off, int64(s.packSizes[0])) }
	var aesProps []byte
	var codec coder7z
	for _, c := range f.coders {
		if bytes.Equal(c.id, codecAES) {
			aesProps = c.props
		} else {
			codec = c
		}
	}
	if aesProps == nil {
		out, err := decode7z(codec, packed(), unpack)
		if err != nil {
			w.finding(CodeMalformed, "", "7z archive %s: header: %v", where, err)
			return nil, false
		}
		return out, true
	}
	for _, c := range candidates(w.lim.Passwords, nil) {
		if err := w.ctx.Err(); err != nil {
			return nil, false
		}
		plain, err := decrypt7z(aesProps, c.password, packed())
		if err != nil {
			continue
		}
		out, err := decode7z(codec, plain, unpack)
		if err == nil && len(out) > 0 && out[0] == k7zHeader {
			v.header = &c
			return out, true
		}
	}
	w.finding(CodeEncrypted, contract.VerdictUnscanned, "the file list of 7z archive %s is encrypted and no known password opens it; nothing in it can be inspected", where)
	return nil, false
}

// decode7z decodes a header stream coded with c (copy, LZMA or LZMA2),
// whose dictionary folderAffordable has checked.
func decode7z(c coder7z, packed io.Reader, unpack uint64) ([]byte, error) {
	var r io.Reader
	switch {
	case bytes.Equal(c.id, codecCopy):
		r = packed
	case bytes.Equal(c.id, codecLZMA) && len(c.props) == 5:
		hdr := append(append([]byte{}, c.props...), binary.LittleEndian.AppendUint64(nil, unpack)...)
		lr, err := lzma.NewReader(io.MultiReader(bytes.NewReader(hdr), packed))
		if err != nil {
			return nil, err
		}
		r = lr
	case bytes.Equal(c.id, codecLZMA2) && len(c.props) == 1:
		lr, err := lzma.Reader2Config{DictCap: int(lzma2Dict(c.props[0]))}.NewReader2(packed)
		if err != nil {
			return nil, err
		}
		r = lr
	default:
		return nil, fmt.Errorf("header coded with codec %x", c.id)
	}
	out := make([]byte, unpack)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// lzma2Dict decodes LZMA2's one-byte dictionary size.
func lzma2Dict(b byte) uint64 {
	if b >= 40 {
		return 1<<32 - 1
	}
	return uint64(2|b&1) << (b/2 + 11)
}

// folderAffordable checks the memory and time a folder's coders would take
// before anything decodes it: the LZMA and LZMA2 dictionaries and the PPMd
// model are allocated whole from sizes the header declares (up to 4 GiB),
// and the AES key derivation runs 2^n rounds. It records a finding and
// returns false for a folder over the limits.
func (w *walker) folderAffordable(where string, f folder7z) bool {
	for _, c := range f.coders {
		var dict uint64
		switch {
		case bytes.Equal(c.id, codecLZMA) && len(c.props) == 5:
			// The decoder never needs more than the output it makes.
			dict = min(uint64(binary.LittleEndian.Uint32(c.props[1:])), max(f.unpackSize(), 4096))
		case bytes.Equal(c.id, codecLZMA2) && len(c.props) == 1:
			dict = lzma2Dict(c.props[0])
		case bytes.Equal(c.id, codecPPMd) && len(c.props) == 5:
			dict = uint64(binary.LittleEndian.Uint32(c.props[1:]))
		case bytes.Equal(c.id, codecAES) && len(c.props) >= 1:
			if p := c.props[0] & 0x3f; p != 0x3f && p > MaxKeyDerivationPower {
				w.finding(CodeKeyDerivation, contract.VerdictUnscanned,
					"7z archive %s asks for 2^%d key-derivation rounds per password, over the limit of 2^%d; its encrypted content was not inspected", where, p, MaxKeyDerivationPower)
				return false
			}
		}
		if dict > uint64(w.lim.MaxDictionarySize) {
			w.finding(CodeDictionaryTooLarge, contract.VerdictUnscanned,
				"7z archive %s declares a %d-byte decoder dictionary, over the %d-byte limit; that content was not decompressed", where, dict, w.lim.MaxDictionarySize)
			return false
		}
	}
	return true
}

// decrypt7z decrypts a 7z AES-256 stream (coder properties props) with
// password: the key is SHA-256 over 2^n rounds of salt, password (UTF-16LE)
// and round number, and the cipher AES-256-CBC.
func decrypt7z(props []byte, password string, packed io.Reader) (io.Reader, error) {
	if len(props) < 1 {
		return nil, err7z
	}
	power := props[0] & 0x3f
	var salt, iv []byte
	if props[0]&0xc0 != 0 {
		if len(props) < 2 {
			return nil, err7z
		}
		saltLen := int(props[0]>>7&1) + int(props[1]>>4)
		ivLen := int(props[0]>>6&1) + int(props[1]&0x0f)
		if len(props) < 2+saltLen+ivLen {
			return nil, err7z
		}
		salt, iv = props[2:2+saltLen], props[2+saltLen:2+saltLen+ivLen]
	}
	if power != 0x3f && power > MaxKeyDerivationPower {
		return nil, err7z
	}
	var pw []byte
	for _, u := range utf16.Encode([]rune(password)) {
		pw = binary.LittleEndian.AppendUint16(pw, u)
	}
	key := make([]byte, 32)
	if power == 0x3f {
		copy(key, append(append([]byte{}, salt...), pw...))
	} else {
		buf := append(append(append([]byte{}, salt...), pw...), make([]byte, 8)...)
		ctr := buf[len(buf)-8:]
		h := sha256.New()
		for i := uint64(0); i < 1<<power; i++ {
			binary.LittleEndian.PutUint64(ctr, i)
			h.Write(buf)
		}
		key = h.Sum(nil)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	ivb := make([]byte, aes.BlockSize)
	copy(ivb, iv)
	data, err := io.ReadAll(io.LimitReader(packed, max7zHeader+aes.BlockSize))
	if err != nil {
		return nil, err
	}
	if len(data)%aes.BlockSize != 0 {
		return nil, err7z
	}
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(data, data)
	return bytes.NewReader(data), nil
}

// walk7z walks the 7z in ra, whose members are named prefix+name and sit
// at depth. Walk hands each member to fn as it decompresses; Inspect lists
// the members and decompresses only what it needs to find the password of
// an encrypted folder.
func (w *walker) walk7z(prefix string, depth int, ra io.ReaderAt, size int64) error {
	where := strings.TrimSuffix(prefix, "/")
	v := w.vet7z(prefix, ra, size)
	if v == nil {
		return nil
	}
	pw := ""
	if v.header != nil {
		pw = v.header.password
	}
	zr, err := open7z(ra, size, pw)
	if err != nil {
		w.finding(CodeMalformed, "", "7z archive %s could not be read: %v", where, err)
		return nil
	}
	if len(zr.File) > 16*w.lim.MaxArchiveEntries {
		w.finding(CodeTooManyEntries, contract.VerdictUnscanned,
			"a 7z archive declares far more than %d members; it was not listed", w.lim.MaxArchiveEntries)
		return nil
	}
	for _, f := range zr.File {
		w.addDeclared(f.UncompressedSize)
		if depth == 1 && w.info != nil {
			w.info.TotalUncompressedSize += int64(min(f.UncompressedSize, 1<<62))
		}
	}
	w.checkDeclared()
	s := &state7z{ra: ra, size: size, readers: map[string]*sevenzip.Reader{pw: zr}, unlocked: map[int]*candidate{},
		tried: map[int]bool{}, refused: map[int]bool{}, last: v.header}
	for i, f := range zr.File {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		dir := strings.HasSuffix(f.Name, "/") || f.FileInfo().IsDir() || len(v.files) == len(zr.File) && v.files[i].dir
		name := strings.TrimSuffix(f.Name, "/")
		folder, hasData := -1, f.UncompressedSize > 0 && !dir
		if hasData && f.Stream >= 0 && f.Stream < len(v.folders) {
			folder = f.Stream
		}
		encrypted := folder >= 0 && v.folders[folder].encrypted()
		e := Entry{Path: prefix + name, Size: int64(min(f.UncompressedSize, 1<<62)), Dir: dir, Flags: pathFlags(name)}
		if v.header != nil {
			e.UnlockedBy = v.header.source
		}
		if encrypted {
			if c := w.unlock7z(where, s, v, folder, i); c != nil {
				e.UnlockedBy = c.source
			} else {
				e.Encrypted = true
			}
		}
		if !w.entry(e, depth) {
			return errStop
		}
		if w.seen[CodeZipBomb] {
			return nil
		}
		if !hasData || e.Encrypted || folder < 0 || s.refused[folder] {
			continue
		}
		if !w.folderAffordable(where, v.folders[folder]) {
			s.refused[folder] = true
			w.flag(e.Path, "notInspected")
			continue
		}
		if w.fn == nil {
			continue
		}
		r := zr
		if c := s.unlocked[folder]; c != nil {
			r = s.readers[c.password]
		}
		rc, err := contained(r.File[i].Open)
		if err != nil {
			if err := w.unreadable(e.Path, err); err != nil {
				return err
			}
			continue
		}
		err = w.member(e.Path, depth, &counter{w: w, r: safeReader{rc}}, e.UnlockedBy)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// state7z is one 7z archive being walked: a library reader per password
// tried, and which folders a password opened or a limit refused.
type state7z struct {
	ra       io.ReaderAt
	size     int64
	readers  map[string]*sevenzip.Reader
	unlocked map[int]*candidate
	tried    map[int]bool
	refused  map[int]bool
	last     *candidate
}

// unlock7z finds the password of an encrypted folder by decompressing its
// member i in full and checking its CRC: a wrong AES key makes garbage
// that rarely decompresses, and never to the right CRC. It returns nil
// when no password opens the folder.
func (w *walker) unlock7z(where string, s *state7z, v *vetted7z, folder, i int) *candidate {
	if s.tried[folder] {
		return s.unlocked[folder]
	}
	s.tried[folder] = true
	if !w.folderAffordable(where, v.folders[folder]) {
		s.refused[folder] = true
		return nil
	}
	for _, c := range candidates(w.lim.Passwords, s.last) {
		if w.ctx.Err() != nil || w.seen[CodeZipBomb] {
			return nil
		}
		// A reader of its own: the library pools a folder's decoder at the
		// offset where a read stopped, and a later Open of an earlier
		// member from that pool fails.
		r, err := open7z(s.ra, s.size, c.password)
		if err != nil || i >= len(r.File) {
			continue
		}
		rc, err := contained(r.File[i].Open)
		if err != nil {
			continue
		}
		h := crc32.NewIEEE()
		n, err := io.Copy(h, &counter{w: w, r: safeReader{rc}})
		rc.Close()
		f := r.File[i]
		if err == nil && uint64(n) == f.UncompressedSize && (f.CRC32 == 0 || h.Sum32() == f.CRC32) {
			if _, ok := s.readers[c.password]; !ok {
				if s.readers[c.password], err = open7z(s.ra, s.size, c.password); err != nil {
					return nil
				}
			}
			s.unlocked[folder] = &c
			s.last = &c
			return &c
		}
		if stopped(err) {
			return nil
		}
	}
	return nil
}

// open7z opens a vetted 7z with the library, containing its panics.
func open7z(ra io.ReaderAt, size int64, password string) (*sevenzip.Reader, error) {
	return contained(func() (*sevenzip.Reader, error) { return sevenzip.NewReaderWithPassword(ra, size, password) })
}
