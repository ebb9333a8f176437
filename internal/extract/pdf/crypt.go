package pdf

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/intellidox/intellidox/internal/extract/archive"
)

// Security is what the standard security handler of an encrypted PDF
// needs to open it: the /Encrypt dictionary and the first part of the
// trailer's /ID. It covers every revision writers produce: RC4 of 40 to
// 128 bits (revisions 2 and 3), crypt filters with RC4 or AES-128
// (revision 4), and AES-256 (revisions 5 and 6, PDF 2.0).
type Security struct {
	object int // the /Encrypt dictionary's object, whose strings are never encrypted
	v, r   int
	keyLen int // bytes of the file key, revisions 2 to 4
	o, u   []byte
	oe, ue []byte
	p      uint32
	id     []byte
	// encryptMetadata is false when /Metadata streams are left in clear.
	encryptMetadata bool
	stm, str        method
}

// method is how a crypt filter transforms strings or streams.
type method int

const (
	identity method = iota
	rc4Method
	aesMethod
)

// Method names the cipher, e.g. "AES-256" or "RC4 40-bit", for metadata
// and messages.
func (s *Security) Method() string {
	switch {
	case s.v >= 5:
		return "AES-256"
	case s.stm == aesMethod || s.str == aesMethod:
		return "AES-128"
	}
	return fmt.Sprintf("RC4 %d-bit", 8*s.keyLen)
}

// errHandler is returned for an /Encrypt dictionary this package cannot
// open: another security handler (public-key), or values no writer makes.
type errHandler struct{ why string }

func (e errHandler) Error() string { return "pdf: " + e.why }

// security reads an /Encrypt dictionary held by object num (-1 when the
// trailer holds it directly) with the trailer's /ID.
func security(d dict, num int, trailer dict) (*Security, error) {
	if f, _ := d["Filter"].(name); f != "Standard" {
		return nil, errHandler{fmt.Sprintf("the %q security handler is not supported (only the password-based Standard one is)", string(f))}
	}
	s := &Security{object: num, encryptMetadata: true}
	s.v, s.r = intOf(d["V"]), intOf(d["R"])
	s.o, s.u = []byte(str(d["O"])), []byte(str(d["U"]))
	s.oe, s.ue = []byte(str(d["OE"])), []byte(str(d["UE"]))
	if p, ok := d["P"].(float64); ok {
		s.p = uint32(int32(int64(p)))
	}
	if ids, ok := trailer["ID"].(array); ok && len(ids) > 0 {
		s.id = []byte(str(ids[0]))
	}
	if k, ok := d["EncryptMetadata"].(keyword); ok && k == "false" {
		s.encryptMetadata = false
	}
	s.keyLen = 5
	if l := intOf(d["Length"]); l >= 40 && l <= 128 && l%8 == 0 {
		s.keyLen = l / 8
	}
	switch {
	case s.v == 1 || s.v == 2:
		s.stm, s.str = rc4Method, rc4Method
	case s.v == 4 || s.v == 5:
		cf, _ := d["CF"].(dict)
		filter := func(key string) method {
			n, _ := d[key].(name)
			if n == "" || n == "Identity" {
				return identity
			}
			f, _ := cf[string(n)].(dict)
			switch cfm, _ := f["CFM"].(name); cfm {
			case "V2":
				if l := intOf(f["Length"]); s.v == 4 && l >= 5 && l <= 16 {
					s.keyLen = l // in bytes here, though some writers give bits
				} else if l >= 40 && l <= 128 && l%8 == 0 {
					s.keyLen = l / 8
				}
				return rc4Method
			case "AESV2", "AESV3":
				return aesMethod
			}
			return identity
		}
		s.stm, s.str = filter("StmF"), filter("StrF")
		if s.v == 4 && s.stm == aesMethod {
			s.keyLen = 16
		}
	default:
		return nil, errHandler{fmt.Sprintf("encryption algorithm V %d is not supported", s.v)}
	}
	switch {
	case s.r >= 2 && s.r <= 4 && s.v <= 4:
		if len(s.o) < 32 || len(s.u) < 32 {
			return nil, errHandler{"the /O or /U entry is shorter than 32 bytes"}
		}
	case (s.r == 5 || s.r == 6) && s.v == 5:
		if len(s.o) < 48 || len(s.u) < 48 || len(s.oe) < 32 || len(s.ue) < 32 {
			return nil, errHandler{"the /O, /U, /OE or /UE entry is too short for AES-256"}
		}
	default:
		return nil, errHandler{fmt.Sprintf("revision %d with algorithm V %d is not supported", s.r, s.v)}
	}
	return s, nil
}

func intOf(v any) int {
	f, _ := v.(float64)
	if f < 0 || f > 1<<20 {
		return 0
	}
	return int(f)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// MaxPasswordTries bounds the passwords tried on one PDF, each as the user
// and as the owner password. An AES-256 (revision 6) try costs a fixed
// chain of at least 64 AES and SHA-2 rounds, so this bounds the time a
// file can ask for; docs/metadata.md gives the measure.
const MaxPasswordTries = 64

// Unlock tries the empty user password, which most encrypted PDFs have
// (they restrict printing or copying rather than reading), then each
// password of lists in order, as the user and as the owner password. It
// returns the decrypter and the source of the list whose password opened
// the file, "" for the empty password; ok is false when none did, or the
// tries ran out (MaxPasswordTries).
func (s *Security) Unlock(lists []archive.Passwords) (d *Decrypter, source string, ok bool) {
	if d := s.open(""); d != nil {
		return d, "", true
	}
	tries := 0
	for _, l := range lists {
		for _, pw := range l.List {
			if tries++; tries > MaxPasswordTries {
				return nil, "", false
			}
			if d := s.open(pw); d != nil {
				return d, l.Source, true
			}
		}
	}
	return nil, "", false
}

// open returns a decrypter when pw is the user or the owner password.
func (s *Security) open(pw string) *Decrypter {
	var key []byte
	if s.r >= 5 {
		key = s.key256(pw)
	} else {
		key = s.userKey(pad(pw))
		if key == nil {
			key = s.userKey(s.ownerToUser(pw))
		}
	}
	if key == nil {
		return nil
	}
	return &Decrypter{sec: s, key: key}
}

// padding completes passwords to 32 bytes, revisions 2 to 4.
var padding = []byte{
	0x28, 0xbf, 0x4e, 0x5e, 0x4e, 0x75, 0x8a, 0x41, 0x64, 0x00, 0x4e, 0x56, 0xff, 0xfa, 0x01, 0x08,
	0x2e, 0x2e, 0x00, 0xb6, 0xd0, 0x68, 0x3e, 0x80, 0x2f, 0x0c, 0xa9, 0xfe, 0x64, 0x53, 0x69, 0x7a,
}

// pad encodes a password as revisions 2 to 4 read it: PDFDocEncoding,
// taken here as Latin-1 when every character fits and as UTF-8 bytes
// otherwise, cut or padded to 32 bytes.
func pad(pw string) []byte {
	b := make([]byte, 0, 32)
	latin := true
	for _, r := range pw {
		if r > 0xff {
			latin = false
			break
		}
		b = append(b, byte(r))
	}
	if !latin {
		b = append(b[:0], pw...)
	}
	b = b[:min(len(b), 32)]
	return append(b, padding[:32-len(b)]...)
}

// userKey computes the file key from a padded user password (algorithm
// 2) and returns it if the password is right (algorithms 4 and 5).
func (s *Security) userKey(padded []byte) []byte {
	h := md5.New()
	h.Write(padded)
	h.Write(s.o[:32])
	h.Write([]byte{byte(s.p), byte(s.p >> 8), byte(s.p >> 16), byte(s.p >> 24)})
	h.Write(s.id)
	if s.r >= 4 && !s.encryptMetadata {
		h.Write([]byte{0xff, 0xff, 0xff, 0xff})
	}
	key := h.Sum(nil)
	n := s.keyLen
	if s.r >= 3 {
		for range 50 {
			sum := md5.Sum(key[:n])
			key = sum[:]
		}
	}
	key = key[:n]
	if s.r == 2 {
		if bytes.Equal(rc4XOR(key, padding), s.u[:32]) {
			return key
		}
		return nil
	}
	h = md5.New()
	h.Write(padding)
	h.Write(s.id)
	x := rc4XOR(key, h.Sum(nil))
	for i := 1; i <= 19; i++ {
		x = rc4XOR(xorKey(key, byte(i)), x)
	}
	if bytes.Equal(x, s.u[:16]) {
		return key
	}
	return nil
}

// ownerToUser recovers the padded user password from /O with the owner
// password pw (algorithm 7).
func (s *Security) ownerToUser(pw string) []byte {
	sum := md5.Sum(pad(pw))
	key := sum[:]
	n := s.keyLen
	if s.r >= 3 {
		for range 50 {
			sum := md5.Sum(key[:n])
			key = sum[:]
		}
	}
	key = key[:n]
	if s.r == 2 {
		return rc4XOR(key, s.o[:32])
	}
	x := s.o[:32]
	for i := 19; i >= 0; i-- {
		x = rc4XOR(xorKey(key, byte(i)), x)
	}
	return x
}

func rc4XOR(key, data []byte) []byte {
	c, err := rc4.NewCipher(key)
	if err != nil {
		return nil
	}
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

func xorKey(key []byte, b byte) []byte {
	k := make([]byte, len(key))
	for i := range key {
		k[i] = key[i] ^ b
	}
	return k
}

// key256 returns the AES-256 file key if pw is the user or the owner
// password (algorithms 2.A and 2.B): UTF-8, at most 127 bytes.
func (s *Security) key256(pw string) []byte {
	p := []byte(pw)[:min(len(pw), 127)]
	u := s.u[:48]
	if bytes.Equal(s.hash(p, u[32:40], nil), u[:32]) {
		return aesNoIV(s.hash(p, u[40:48], nil), s.ue[:32])
	}
	o := s.o[:48]
	if bytes.Equal(s.hash(p, o[32:40], u), o[:32]) {
		return aesNoIV(s.hash(p, o[40:48], u), s.oe[:32])
	}
	return nil
}

// hash is SHA-256 for revision 5, and the iterated hash of algorithm 2.B
// for revision 6.
func (s *Security) hash(pw, salt, udata []byte) []byte {
	h := sha256.New()
	h.Write(pw)
	h.Write(salt)
	h.Write(udata)
	k := h.Sum(nil)
	if s.r == 5 {
		return k
	}
	var e []byte
	for i := 0; i < 64 || int(e[len(e)-1]) > i-32; i++ {
		k1 := make([]byte, 0, 64*(len(pw)+len(k)+len(udata)))
		for range 64 {
			k1 = append(append(append(k1, pw...), k...), udata...)
		}
		block, _ := aes.NewCipher(k[:16])
		e = make([]byte, len(k1))
		cipher.NewCBCEncrypter(block, k[16:32]).CryptBlocks(e, k1)
		sum := 0
		for _, b := range e[:16] {
			sum += int(b)
		}
		var next hash.Hash
		switch sum % 3 {
		case 0:
			next = sha256.New()
		case 1:
			next = sha512.New384()
		default:
			next = sha512.New()
		}
		next.Write(e)
		k = next.Sum(nil)
	}
	return k[:32]
}

// aesNoIV decrypts one key wrapped with AES-256 in CBC mode, IV zero, no
// padding.
func aesNoIV(key, data []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(out, data)
	return out
}

// Decrypter decrypts the strings and streams of one opened PDF.
type Decrypter struct {
	sec *Security
	key []byte
}

// objectKey is the key of object num, generation gen (algorithm 1); AES-256
// uses the file key itself.
func (d *Decrypter) objectKey(num, gen int, m method) []byte {
	if d.sec.v >= 5 {
		return d.key
	}
	h := md5.New()
	h.Write(d.key)
	h.Write([]byte{byte(num), byte(num >> 8), byte(num >> 16), byte(gen), byte(gen >> 8)})
	if m == aesMethod {
		h.Write([]byte("sAlT"))
	}
	return h.Sum(nil)[:min(len(d.key)+5, 16)]
}

func (d *Decrypter) decrypt(num, gen int, m method, data []byte) []byte {
	switch m {
	case rc4Method:
		return rc4XOR(d.objectKey(num, gen, m), data)
	case aesMethod:
		// The first block is the IV; the rest is CBC with PKCS#5 padding.
		if len(data) < 2*aes.BlockSize {
			return nil
		}
		block, err := aes.NewCipher(d.objectKey(num, gen, m))
		if err != nil {
			return nil
		}
		body := data[aes.BlockSize:]
		body = body[:len(body)/aes.BlockSize*aes.BlockSize]
		out := make([]byte, len(body))
		cipher.NewCBCDecrypter(block, data[:aes.BlockSize]).CryptBlocks(out, body)
		if n := int(out[len(out)-1]); n >= 1 && n <= aes.BlockSize && n <= len(out) {
			out = out[:len(out)-n]
		}
		return out
	}
	return data
}

// stream decrypts the data of a stream of object num, generation gen,
// whose dictionary is d. Cross-reference streams are never encrypted, and
// metadata streams are not when the handler says so.
func (d *Decrypter) stream(num, gen int, sd dict, data []byte) []byte {
	switch t, _ := sd["Type"].(name); {
	case t == "XRef":
		return data
	case t == "Metadata" && !d.sec.encryptMetadata:
		return data
	}
	return d.decrypt(num, gen, d.sec.stm, data)
}

// string decrypts a string of object num, generation gen.
func (d *Decrypter) string(num, gen int, s string) string {
	if num == d.sec.object {
		return s
	}
	return string(d.decrypt(num, gen, d.sec.str, []byte(s)))
}

// Encryption returns the security handler of the PDF in src (size bytes),
// nil when it is not encrypted. It costs one read of the file when no
// name /Encrypt occurs in it (written plainly or with #xx escapes), and one
// parse (as Scan's) when one does. A file encrypted with a handler this
// package cannot open returns the error that says why.
func Encryption(ctx context.Context, src io.ReaderAt, size int64) (*Security, error) {
	if !hasName(src, size, "Encrypt") {
		return nil, nil
	}
	s := &scanner{ctx: ctx, info: &Info{}, infoDicts: map[int]dict{}, strs: map[int]string{}, budget: maxNameInflate}
	s.scan(&lexer{r: newReader(io.NewSectionReader(src, 0, size))})
	s.finish()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.sec, s.secErr
}

// hasName reports whether the name /want occurs in src, plainly or with
// some of its characters written as #xx, reading src in chunks. Names are
// looked at only where a '/' starts one, so the cost is one pass.
func hasName(src io.ReaderAt, size int64, want string) bool {
	const longest = 3 * 32 // a name of up to 32 characters, every one escaped
	buf := make([]byte, 64<<10)
	for off := int64(0); off < size; {
		n, err := src.ReadAt(buf, off)
		b := buf[:n]
		for i := bytes.IndexByte(b, '/'); i >= 0; {
			if nameAt(b[i+1:], want) {
				return true
			}
			j := bytes.IndexByte(b[i+1:], '/')
			if j < 0 {
				break
			}
			i += 1 + j
		}
		if err != nil || n <= longest {
			return false
		}
		off += int64(n - longest)
	}
	return false
}

// nameAt reports whether the name starting at b (after its '/') is want,
// #xx escapes decoded.
func nameAt(b []byte, want string) bool {
	k := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c <= ' ' || bytes.IndexByte([]byte("/()<>[]{}%"), c) >= 0 {
			break
		}
		if c == '#' && i+2 < len(b) {
			if v, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8); err == nil {
				c = byte(v)
				i += 2
			}
		}
		if k >= len(want) || want[k] != c {
			return false
		}
		k++
	}
	return k == len(want)
}
