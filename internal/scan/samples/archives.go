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
