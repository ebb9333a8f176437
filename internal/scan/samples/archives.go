package samples

import (
	"archive/zip"
	"bytes"
	"cmp"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1" //nolint:gosec // WinZip AES authenticates with HMAC-SHA1
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"time"
	"unicode/utf16"

	"github.com/ulikunitz/xz/lzma"
)

// Archive formats beside zip, built here byte by byte (from 7-Zip's
// 7zFormat.txt, RARLAB's RAR 5.0 format description and WinZip's AE-2
// specification) so that tests need no archiver installed. The archive
// package's tests check each against 7z, unar or lsar where installed.

// EICAR7z is a 7z archive holding eicar.com, LZMA-compressed.
func EICAR7z() []byte { return SevenZip("eicar.com", []byte(EICAR)) }

// EICARRar is a RAR 5 archive holding eicar.com, stored.
func EICARRar() []byte { return RAR("", "eicar.com", []byte(EICAR)) }

// EICARAESZip is a zip holding eicar.com encrypted with WinZip AES-256
// under password (use "infected", the built-in password, or any other).
func EICARAESZip(password string) []byte { return AESZip(password, "eicar.com", []byte(EICAR)) }

// HashListedZip is a zip holding the hash-listed sample as sample.txt.
func HashListedZip() []byte {
	return zipOf(map[string][]byte{"readme.txt": []byte(Clean), "sample.txt": []byte(HashListed)})
}

// num7z writes a 7z NUMBER.
func num7z(v uint64) []byte {
	if v < 0x80 {
		return []byte{byte(v)}
	}
	b := []byte{0xff}
	return binary.LittleEndian.AppendUint64(b, v)
}

// SevenZip returns a 7z archive holding one file, LZMA-compressed in one
// folder, with a plain header.
func SevenZip(name string, body []byte) []byte {
	var packed bytes.Buffer
	w, err := lzma.WriterConfig{DictCap: 1 << 16, SizeInHeader: true, Size: int64(len(body))}.NewWriter(&packed)
	if err != nil {
		panic(err)
	}
	if _, err := w.Write(body); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	// The LZMA header (properties, dictionary size, size) becomes the
	// coder's properties; 7z keeps the size in its own header.
	props, stream := packed.Bytes()[:5], packed.Bytes()[13:]
	var h []byte
	add := func(b ...byte) { h = append(h, b...) }
	add(0x01, 0x04)                                                         // Header, MainStreamsInfo
	add(0x06, 0x00, 0x01, 0x09)                                             // PackInfo: pos 0, 1 stream, sizes
	add(num7z(uint64(len(stream)))...)                                      //
	add(0x00)                                                               // End
	add(0x07, 0x0b, 0x01, 0x00)                                             // UnpackInfo, Folder, 1 folder, not external
	add(0x01, 0x23, 0x03, 0x01, 0x01, 0x05)                                 // 1 coder: LZMA, 5 bytes of properties
	add(props...)                                                           //
	add(0x0c)                                                               // CodersUnpackSize
	add(num7z(uint64(len(body)))...)                                        //
	add(0x00)                                                               // End of UnpackInfo
	add(0x08, 0x0a, 0x01)                                                   // SubStreamsInfo: CRC, all defined
	add(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))...) //
	add(0x00, 0x00)                                                         // End of SubStreamsInfo, of StreamsInfo
	add(0x05, 0x01)                                                         // FilesInfo, 1 file
	var n []byte
	for _, r := range name {
		n = binary.LittleEndian.AppendUint16(n, uint16(r))
	}
	n = append(n, 0, 0)
	add(0x11)
	add(num7z(uint64(len(n) + 1))...)
	add(0x00)
	add(n...)
	add(0x00, 0x00) // End of FilesInfo, of Header
	start := binary.LittleEndian.AppendUint64(nil, uint64(len(stream)))
	start = binary.LittleEndian.AppendUint64(start, uint64(len(h)))
	start = binary.LittleEndian.AppendUint32(start, crc32.ChecksumIEEE(h))
	out := []byte("7z\xbc\xaf\x27\x1c\x00\x04")
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(start))
	out = append(out, start...)
	out = append(out, stream...)
	return append(out, h...)
}

// vint writes a RAR 5 variable-length integer.
func vint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// rarBlock frames a RAR 5 header: CRC32, size, then the header itself.
func rarBlock(hdr []byte) []byte {
	sized := append(vint(uint64(len(hdr))), hdr...)
	return append(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(sized)), sized...)
}

// RAR returns a RAR 5 archive holding one stored file. With a password,
// the file's data (not the file list) is encrypted with AES-256 as RAR 5
// does: PBKDF2-HMAC-SHA256 over 2^15 rounds, with the password check value.
func RAR(password, name string, body []byte) []byte {
	return RARWith(RAROptions{Password: password}, name, body)
}

// RAROptions shape a hostile RAR 5 header for tests of the limits.
type RAROptions struct {
	Password string
	// DictLog and Method set the compression information: a dictionary of
	// 128 KiB << DictLog, compression method 1-5 (0 stores).
	DictLog, Method uint64
	// DeclaredSize, when set, is the unpacked size the header claims.
	DeclaredSize uint64
	// KDF is the key-derivation count (2^KDF rounds), 15 by default. Over
	// 20 the keys are not derived (it would take seconds): the archive
	// then only serves tests that must refuse it before deriving anything.
	KDF byte
}

// RARWith is RAR with a header shaped by o.
func RARWith(o RAROptions, name string, body []byte) []byte {
	password := o.Password
	out := []byte("Rar!\x1a\x07\x01\x00")
	out = append(out, rarBlock([]byte{0x01, 0x00, 0x00})...) // main header: no flags
	data := body
	var extra []byte
	if password != "" {
		kdf := cmp.Or(o.KDF, 15)
		salt := bytes.Repeat([]byte{0x5a}, 16)
		iv := bytes.Repeat([]byte{0xa5}, 16)
		key, v3 := make([]byte, 32), make([]byte, 32)
		if kdf <= 20 {
			key, _ = pbkdf2.Key(sha256.New, password, salt, 1<<kdf, 32)
			v3, _ = pbkdf2.Key(sha256.New, password, salt, 1<<kdf+32, 32)
		}
		check := make([]byte, 8)
		for i, b := range v3 {
			check[i%8] ^= b
		}
		sum := sha256.Sum256(check)
		rec := []byte{0x01, 0x00, 0x01, kdf} // type encryption, AES-256, check present, KDF count
		rec = append(rec, salt...)
		rec = append(rec, iv...)
		rec = append(rec, check...)
		rec = append(rec, sum[:4]...)
		extra = append(vint(uint64(len(rec))), rec...)
		padded := append(bytes.Clone(body), make([]byte, (16-len(body)%16)%16)...)
		block, _ := aes.NewCipher(key)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
		data = padded
	}
	flags := uint64(0x0002) // data area
	if extra != nil {
		flags |= 0x0001
	}
	h := vint(2)
	h = append(h, vint(flags)...)
	if extra != nil {
		h = append(h, vint(uint64(len(extra)))...)
	}
	h = append(h, vint(uint64(len(data)))...)
	h = append(h, vint(0x0004)...) // file flags: CRC32 present
	declared := uint64(len(body))
	if o.DeclaredSize != 0 {
		declared = o.DeclaredSize
	}
	h = append(h, vint(declared)...)
	h = append(h, vint(0o644)...)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(body))
	h = append(h, vint(o.Method<<7|o.DictLog<<10)...) // compression: version 0, method, dictionary
	h = append(h, vint(1)...)                         // host OS: Unix
	h = append(h, vint(uint64(len(name)))...)
	h = append(h, name...)
	h = append(h, extra...)
	out = append(out, rarBlock(h)...)
	out = append(out, data...)
	return append(out, rarBlock([]byte{0x05, 0x00, 0x00})...) // end of archive
}

// AESZip returns a zip holding one file, deflated and encrypted with
// WinZip AES-256 (AE-2: no CRC, an HMAC-SHA1 instead) under password.
func AESZip(password, name string, body []byte) []byte {
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression)
	fw.Write(body)
	fw.Close()
	salt := bytes.Repeat([]byte{0x3c}, 16)
	keys, _ := pbkdf2.Key(sha1.New, password, salt, 1000, 66)
	block, _ := aes.NewCipher(keys[:32])
	enc := deflated.Bytes()
	var ctr uint64
	var ks [16]byte
	for i := range enc {
		if i%16 == 0 {
			ctr++
			var c [16]byte
			binary.LittleEndian.PutUint64(c[:], ctr)
			block.Encrypt(ks[:], c[:])
		}
		enc[i] ^= ks[i%16]
	}
	mac := hmac.New(sha1.New, keys[32:64])
	mac.Write(enc)
	payload := append(append(append(bytes.Clone(salt), keys[64:66]...), enc...), mac.Sum(nil)[:10]...)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	extra := []byte{0x01, 0x99, 7, 0, 2, 0, 'A', 'E', 3, 8, 0} // AE-2, AES-256, deflate
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: 99, Flags: 0x1, Extra: extra,
		CompressedSize64: uint64(len(payload)), UncompressedSize64: uint64(len(body)),
		Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		panic(err)
	}
	w.Write(payload)
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// EICARRar4 is a RAR 4 archive (the RAR 1.5 to 4.x format) holding
// eicar.com, stored.
func EICARRar4() []byte { return RAR4("eicar.com", []byte(EICAR)) }

// RAR4 returns a RAR 4 archive (RAR 1.5 to 4.x format, from RARLAB's
// technote for RAR 2.9/3.x) holding one file, stored (method 0x30).
func RAR4(name string, body []byte) []byte {
	return RAR4With(RAR4Options{}, RAR4File{Name: name, Body: body})
}

// RAR4Options shape a RAR 4 archive: encryption as RAR 3.x writes it.
type RAR4Options struct {
	// Password encrypts each member's data with AES-128 under a key
	// derived from the password and the member's own salt.
	Password string
	// EncryptHeaders encrypts every header after the main header too, with
	// Password (rar -hp): the file list cannot be read without it.
	EncryptHeaders bool
}

// RAR4File is one member of a RAR 4 archive.
type RAR4File struct {
	Name string
	Body []byte
	// DeclaredSize, when set, is the unpacked size the header claims.
	DeclaredSize uint32
	// PackedSize, when set, is the packed size the header claims, whatever
	// the data that follows.
	PackedSize uint32
	// UnknownKey marks the member encrypted, with a salt of its own, and
	// stores random-looking bytes for its data: no password opens it, and
	// building it derives no key (each derivation costs milliseconds).
	UnknownKey bool
}

// rar4Block frames a RAR 4 header: HEAD_CRC, the low 16 bits of the CRC32
// of everything from HEAD_TYPE on, then HEAD_TYPE, HEAD_FLAGS, HEAD_SIZE
// and the rest of the header.
func rar4Block(typ byte, flags uint16, rest []byte) []byte {
	h := []byte{typ}
	h = binary.LittleEndian.AppendUint16(h, flags)
	h = binary.LittleEndian.AppendUint16(h, uint16(7+len(rest)))
	h = append(h, rest...)
	return append(binary.LittleEndian.AppendUint16(nil, uint16(crc32.ChecksumIEEE(h))), h...)
}

// RAR3Key derives the AES-128 key and IV of RAR 3.x encryption from a
// password and an 8-byte salt: 2^18 rounds of SHA-1 over the password in
// UTF-16LE, the salt and a 3-byte round counter; a byte of the running
// digest every 2^14 rounds makes the IV, and the final digest, its 32-bit
// words byte-swapped, the key.
func RAR3Key(password string, salt []byte) (key, iv []byte) {
	var p []byte
	for _, c := range utf16.Encode([]rune(password)) {
		p = binary.LittleEndian.AppendUint16(p, c)
	}
	p = append(p, salt...)
	const rounds = 1 << 18
	h := sha1.New()
	iv = make([]byte, 16)
	for i := range rounds {
		h.Write(p)
		h.Write([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		if i%(rounds/16) == 0 {
			iv[i/(rounds/16)] = h.Sum(nil)[19]
		}
	}
	d := h.Sum(nil)
	key = make([]byte, 16)
	for i := 0; i < 16; i += 4 {
		key[i], key[i+1], key[i+2], key[i+3] = d[i+3], d[i+2], d[i+1], d[i]
	}
	return key, iv
}

// rar4Encrypt pads b to 16 bytes and encrypts it with AES-128-CBC.
func rar4Encrypt(key, iv, b []byte) []byte {
	padded := append(bytes.Clone(b), make([]byte, (16-len(b)%16)%16)...)
	block, _ := aes.NewCipher(key)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
	return padded
}

// RAR4With returns a RAR 4 archive holding files, stored, shaped by o.
// Every encrypted member has its own salt; encrypted headers share one.
func RAR4With(o RAR4Options, files ...RAR4File) []byte {
	const (
		mainEncrypted = 0x0080 // MHD_PASSWORD
		longBlock     = 0x8000 // LHD_LONG_BLOCK: a data area follows
		fileEncrypted = 0x0004 // LHD_PASSWORD
		fileSalt      = 0x0400 // LHD_SALT
		skipIfUnknown = 0x4000
	)
	hp := o.EncryptHeaders && o.Password != ""
	headerSalt := []byte("hdr-salt")
	var hkey, hiv []byte
	if hp {
		hkey, hiv = RAR3Key(o.Password, headerSalt)
	}
	// Under -hp each header is its salt, then the header encrypted.
	seal := func(b []byte) []byte {
		if !hp {
			return b
		}
		return append(bytes.Clone(headerSalt), rar4Encrypt(hkey, hiv, b)...)
	}
	out := []byte("Rar!\x1a\x07\x00")
	var mainFlags uint16
	if hp {
		mainFlags |= mainEncrypted
	}
	out = append(out, rar4Block(0x73, mainFlags, make([]byte, 6))...) // RESERVED1, RESERVED2
	for i, f := range files {
		data := f.Body
		flags := uint16(longBlock)
		var salt []byte
		if o.Password != "" || f.UnknownKey {
			flags |= fileEncrypted | fileSalt
			salt = binary.LittleEndian.AppendUint64(nil, 0x5a5a0000_00000000|uint64(i))
			if f.UnknownKey {
				sum := sha256.Sum256(append(salt, f.Body...))
				data = append(bytes.Repeat(sum[:], (len(f.Body)+31)/32), sum[:16]...)[:(len(f.Body)+16)/16*16]
			} else {
				key, iv := RAR3Key(o.Password, salt)
				data = rar4Encrypt(key, iv, f.Body)
			}
		}
		packed := uint32(len(data))
		if f.PackedSize != 0 {
			packed = f.PackedSize
		}
		unpacked := uint32(len(f.Body))
		if f.DeclaredSize != 0 {
			unpacked = f.DeclaredSize
		}
		var h []byte
		h = binary.LittleEndian.AppendUint32(h, packed)
		h = binary.LittleEndian.AppendUint32(h, unpacked)
		h = append(h, 3) // HOST_OS: Unix
		h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(f.Body))
		h = binary.LittleEndian.AppendUint32(h, 0x5c210000) // FTIME: 2026-01-01, DOS format
		h = append(h, 29, 0x30)                             // UNP_VER 2.9 (AES needs it), METHOD stored
		h = binary.LittleEndian.AppendUint16(h, uint16(len(f.Name)))
		h = binary.LittleEndian.AppendUint32(h, 0o100644<<16) // ATTR: Unix mode
		h = append(h, f.Name...)
		h = append(h, salt...)
		out = append(out, seal(rar4Block(0x74, flags, h))...)
		out = append(out, data...)
	}
	return append(out, seal(rar4Block(0x7b, skipIfUnknown, nil))...)
}
