package archive

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1" //nolint:gosec // WinZip AES authenticates with HMAC-SHA1; this only reads such files
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"io"
)

// Decryption of encrypted zip members, written here because no maintained
// Go library for it is served by the module proxy (the archive/zip forks
// that did it, yeka/zip and alexmullins/zip, are not). It follows PKWARE's
// APPNOTE (section 6.1, "traditional" ZipCrypto) and WinZip's AE-1/AE-2
// specification, on the standard library's AES, HMAC and PBKDF2. It only
// ever decrypts.

var (
	errWrongPassword = errors.New("zip: wrong password")
	errZipChecksum   = errors.New("zip: checksum mismatch after decryption")
	errZipAuth       = errors.New("zip: AES authentication code mismatch")
	errZipCipher     = errors.New("zip: unsupported encryption")
)

// aesExtra is WinZip's AES extra field (header ID 0x9901).
type aesExtra struct {
	version  uint16 // 1: AE-1 (CRC kept), 2: AE-2 (CRC zero)
	strength byte   // 1, 2, 3: AES-128, -192, -256
	method   uint16 // the compression method under the encryption
}

func findAESExtra(extra []byte) (aesExtra, bool) {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if len(extra) < 4+n {
			break
		}
		if d := extra[4 : 4+n]; id == 0x9901 && n >= 7 && string(d[2:4]) == "AE" {
			return aesExtra{version: binary.LittleEndian.Uint16(d), strength: d[4], method: binary.LittleEndian.Uint16(d[5:])}, true
		}
		extra = extra[4+n:]
	}
	return aesExtra{}, false
}

// openEncrypted returns the decrypted, decompressed content of the
// encrypted member f under password. A wrong password is usually told at
// once (errWrongPassword: ZipCrypto's check byte, WinZip's verifier); the
// rest show as a checksum or authentication error at the end of the
// content, which is why callers read a member through once to verify the
// password before they trust it.
func openEncrypted(f *zip.File, password string) (io.ReadCloser, error) {
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	if f.Method == 99 {
		return openAES(f, raw, password)
	}
	return openZipCrypto(f, raw, password)
}

// decompress wraps the decrypted stream of a member in its compression.
func decompress(method uint16, r io.Reader) (io.ReadCloser, error) {
	switch method {
	case zip.Store:
		return io.NopCloser(r), nil
	case zip.Deflate:
		return flate.NewReader(r), nil
	}
	return nil, errZipCipher
}

// zipCrypto is the traditional PKWARE stream cipher.
type zipCrypto struct{ k0, k1, k2 uint32 }

func newZipCrypto(password string) *zipCrypto {
	z := &zipCrypto{0x12345678, 0x23456789, 0x34567890}
	for i := 0; i < len(password); i++ {
		z.update(password[i])
	}
	return z
}

func crcStep(crc uint32, b byte) uint32 { return crc>>8 ^ crc32.IEEETable[byte(crc)^b] }

func (z *zipCrypto) update(b byte) {
	z.k0 = crcStep(z.k0, b)
	z.k1 = (z.k1+z.k0&0xff)*134775813 + 1
	z.k2 = crcStep(z.k2, byte(z.k1>>24))
}

func (z *zipCrypto) decrypt(p []byte) {
	for i, c := range p {
		t := uint16(z.k2 | 2)
		b := c ^ byte(uint32(t)*uint32(t^1)>>8)
		z.update(b)
		p[i] = b
	}
}

type zipCryptoReader struct {
	r io.Reader
	z *zipCrypto
}

func (r *zipCryptoReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.z.decrypt(p[:n])
	return n, err
}

func openZipCrypto(f *zip.File, raw io.Reader, password string) (io.ReadCloser, error) {
	z := newZipCrypto(password)
	head := make([]byte, 12)
	if _, err := io.ReadFull(raw, head); err != nil {
		return nil, err
	}
	z.decrypt(head)
	// The last header byte repeats the CRC's high byte, or the DOS time's
	// when the sizes follow the data (bit 3).
	check := byte(f.CRC32 >> 24)
	if f.Flags&0x8 != 0 {
		check = byte(f.ModifiedTime >> 8)
	}
	if head[11] != check {
		return nil, errWrongPassword
	}
	body, err := decompress(f.Method, &zipCryptoReader{r: raw, z: z})
	if err != nil {
		return nil, err
	}
	return &checkedReader{rc: body, crc: crc32.NewIEEE(), want: f.CRC32}, nil
}

// checkedReader checks the CRC-32 of what it read at EOF.
type checkedReader struct {
	rc   io.ReadCloser
	crc  hash.Hash32
	want uint32
	skip bool // AE-2: no CRC
	mac  func() error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.crc.Write(p[:n])
	if err == io.EOF {
		if c.mac != nil {
			if merr := c.mac(); merr != nil {
				return n, merr
			}
		}
		if !c.skip && c.crc.Sum32() != c.want {
			return n, errZipChecksum
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.rc.Close() }

// aesCTR is WinZip's AES counter mode: a little-endian block counter that
// starts at 1.
type aesCTR struct {
	block   cipher.Block
	counter uint64
	ks      [aes.BlockSize]byte
	used    int
}

func (c *aesCTR) xor(p []byte) {
	for i := range p {
		if c.used == 0 || c.used == aes.BlockSize {
			c.counter++
			var ctr [aes.BlockSize]byte
			binary.LittleEndian.PutUint64(ctr[:], c.counter)
			c.block.Encrypt(c.ks[:], ctr[:])
			c.used = 0
		}
		p[i] ^= c.ks[c.used]
		c.used++
	}
}

// aesReader decrypts the data part of an AES member and feeds the HMAC.
type aesReader struct {
	r   io.Reader
	ctr *aesCTR
	mac hash.Hash
}

func (a *aesReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	a.mac.Write(p[:n])
	a.ctr.xor(p[:n])
	return n, err
}

func openAES(f *zip.File, raw io.Reader, password string) (io.ReadCloser, error) {
	x, ok := findAESExtra(f.Extra)
	if !ok || x.strength < 1 || x.strength > 3 {
		return nil, errZipCipher
	}
	keyLen := 8 + 8*int(x.strength) // 16, 24, 32
	saltLen := keyLen / 2
	const verifierLen, macLen = 2, 10
	if f.CompressedSize64 < uint64(saltLen+verifierLen+macLen) {
		return nil, errZipCipher
	}
	head := make([]byte, saltLen+verifierLen)
	if _, err := io.ReadFull(raw, head); err != nil {
		return nil, err
	}
	keys, err := pbkdf2.Key(sha1.New, password, head[:saltLen], 1000, 2*keyLen+verifierLen)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(keys[2*keyLen:], head[saltLen:]) != 1 {
		return nil, errWrongPassword
	}
	block, err := aes.NewCipher(keys[:keyLen])
	if err != nil {
		return nil, err
	}
	dataLen := int64(f.CompressedSize64) - int64(saltLen+verifierLen+macLen)
	ar := &aesReader{r: io.LimitReader(raw, dataLen), ctr: &aesCTR{block: block}, mac: hmac.New(sha1.New, keys[keyLen:2*keyLen])}
	body, err := decompress(x.method, ar)
	if err != nil {
		return nil, err
	}
	mac := func() error {
		// Deflate may stop before the last bytes of its input: drain them
		// into the HMAC first.
		if _, err := io.Copy(io.Discard, ar); err != nil {
			return err
		}
		want := make([]byte, macLen)
		if _, err := io.ReadFull(raw, want); err != nil {
			return err
		}
		if !bytes.Equal(ar.mac.Sum(nil)[:macLen], want) {
			return errZipAuth
		}
		return nil
	}
	return &checkedReader{rc: body, crc: crc32.NewIEEE(), want: f.CRC32, skip: x.version == 2, mac: mac}, nil
}
