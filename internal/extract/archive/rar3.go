package archive

import (
	"bytes"
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1" //nolint:gosec // RAR 3.x derives its keys with SHA-1
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"unicode/utf16"

	"github.com/intellidox/intellidox/internal/contract"
)

// MaxRARKeyDerivations bounds the RAR 3/4 key derivations one walk may
// cause, over every RAR in it. Each costs 2^18 rounds of SHA-1, about
// 8 ms here (BenchmarkRAR3KeyDerivation, 7.7 to 9.0 ms on a shared
// 2-core machine), and is run again for every password tried on every
// member with a salt of its own, and for every encrypted header with a salt
// of its own: an archive of thousands of such members would keep a scan
// busy for minutes. 256 derivations are about 2 s.
const MaxRARKeyDerivations = 256

// spendRARKeys accounts for n RAR 3/4 key derivations (n < 0: a number
// that cannot be known in advance) and reports whether the walk's budget
// allows them. Once it does not, it allows none, and no password is tried
// on any RAR again.
func (w *walker) spendRARKeys(n int, where string) bool {
	if !w.rarCostly && n >= 0 && w.rarKeys+n <= MaxRARKeyDerivations {
		w.rarKeys += n
		return true
	}
	if !w.rarCostly {
		w.finding(CodeKeyDerivation, contract.VerdictUnscanned,
			"RAR archive %s needs more than the %d key derivations (2^18 SHA-1 rounds each) a scan may spend on RAR 3/4 passwords; its remaining encrypted content was not tried", where, MaxRARKeyDerivations)
	}
	w.rarCostly = true
	return false
}

// rar3Key derives the AES-128 key and IV of RAR 3.x encryption, as
// rardecode does: 2^18 rounds of SHA-1 over the password (UTF-16LE), the
// salt and a 3-byte round counter, a byte of the digest every 2^14 rounds
// for the IV, and the final digest, its words byte-swapped, for the key.
func rar3Key(password string, salt []byte) (key, iv []byte) {
	var p []byte
	for _, c := range utf16.Encode([]rune(password)) {
		p = binary.LittleEndian.AppendUint16(p, c)
	}
	p = append(p, salt...)
	const rounds = 1 << 18
	h := sha1.New()
	iv = make([]byte, 16)
	var ctr [3]byte
	sum := make([]byte, 0, sha1.Size)
	for i := range rounds {
		h.Write(p)
		ctr[0], ctr[1], ctr[2] = byte(i), byte(i>>8), byte(i>>16)
		h.Write(ctr[:])
		if i%(rounds/16) == 0 {
			iv[i/(rounds/16)] = h.Sum(sum[:0])[19]
		}
	}
	d := h.Sum(sum[:0])
	key = make([]byte, 16)
	for i := 0; i < 16; i += 4 {
		key[i], key[i+1], key[i+2], key[i+3] = d[i+3], d[i+2], d[i+1], d[i]
	}
	return key, iv
}

// rar3Headers is what a read of the block headers of a RAR 1.5 to 4
// archive found, and what reading it with rardecode will cost in keys.
type rar3Headers struct {
	encrypted   bool   // the headers are encrypted (rar -hp)
	badPassword bool   // they are, and the password does not open the first
	truncated   string // the member whose data runs past the end of the file
	// cost[i] is how many keys a rardecode reader holding a password has
	// derived when it returns the i-th file; final says that the last
	// entry is what it derives before it stops (end of archive or error).
	cost  []int
	final bool
}

// upTo returns the keys derived by a fresh reader with a password by the
// time it returns file i, or -1 when the read did not get that far.
func (h *rar3Headers) upTo(i int) int {
	switch {
	case i < len(h.cost):
		return h.cost[i]
	case h.final && len(h.cost) > 0:
		return h.cost[len(h.cost)-1]
	}
	return -1
}

// between returns the keys a reader derives going from file i to file j.
func (h *rar3Headers) between(i, j int) int {
	a, b := h.upTo(i), h.upTo(j)
	if a < 0 || b < 0 {
		return -1
	}
	return b - a
}

// rar3KeyCache counts the key derivations of rardecode's archive15, which
// remembers the keys of the last four salts it derived, newest first.
type rar3KeyCache struct {
	salts   [4]string
	derived int
}

func (c *rar3KeyCache) use(salt []byte) {
	if slices.Contains(c.salts[:], string(salt)) {
		return
	}
	copy(c.salts[1:], c.salts[:])
	c.salts[0] = string(salt)
	c.derived++
}

// RAR 1.5 to 4 block types and flags, from RARLAB's technote.
const (
	rar3Main        = 0x73
	rar3File        = 0x74
	rar3Comment     = 0x75
	rar3AV          = 0x76
	rar3OldService  = 0x77
	rar3Sign        = 0x79
	rar3Service     = 0x7a
	rar3End         = 0x7b
	rar3HasData     = 0x8000
	rar3MainComment = 0x0002
	rar3MainVolume  = 0x0001
	rar3MainCrypt   = 0x0080
	rar3SplitBefore = 0x0001
	rar3FileCrypt   = 0x0004
	rar3FileComment = 0x0008
	rar3LargeData   = 0x0100
	rar3FileSalt    = 0x0400
	rar3EndNotLast  = 0x0001
)

// readRar3 reads the block headers of the RAR 1.5 to 4 archive in ra (at
// most maxBlocks of them) as rardecode will, and counts the keys it will
// derive with a password. When the headers are encrypted, it needs
// password to read them and derives their keys itself, asking spend before
// each; a refusal ends the read. It reads no member data.
func readRar3(ra io.ReaderAt, size int64, maxBlocks int, password *string, spend func() bool) rar3Headers {
	var out rar3Headers
	read := func(off int64, n int) []byte {
		if off < 0 || n < 0 || off+int64(n) > size {
			return nil
		}
		b := make([]byte, n)
		if _, err := ra.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && off+int64(n) == size) {
			return nil
		}
		return b
	}
	const sig = "Rar!\x1a\x07\x00"
	if b := read(0, len(sig)); string(b) != sig {
		return out
	}
	main := read(int64(len(sig)), 7)
	if main == nil || main[2] != rar3Main {
		return out
	}
	mflags, msize := binary.LittleEndian.Uint16(main[3:]), int64(rar3Size(main))
	if msize < 7 {
		return out
	}
	out.encrypted = mflags&rar3MainCrypt != 0
	multi := mflags&rar3MainVolume != 0
	if out.encrypted && password == nil {
		return out
	}
	var cache rar3KeyCache
	keys := map[string]cipher.Block{}
	ivs := map[string][]byte{}
	end := func() { out.cost, out.final = append(out.cost, cache.derived), true }
	off := int64(len(sig)) + msize
	for blocks := range maxBlocks {
		if off == size {
			end() // RAR 1.5 archives may have no end block
			return out
		}
		var hdr []byte
		var next int64
		if out.encrypted {
			salt := read(off, 8)
			if salt == nil {
				end()
				return out
			}
			cache.use(salt)
			block, ok := keys[string(salt)]
			if !ok {
				if !spend() {
					return out
				}
				key, iv := rar3Key(*password, salt)
				block, _ = aes.NewCipher(key)
				keys[string(salt)], ivs[string(salt)] = block, iv
			}
			first := read(off+8, 16)
			if first == nil {
				end()
				return out
			}
			plain := make([]byte, 16)
			cipher.NewCBCDecrypter(block, ivs[string(salt)]).CryptBlocks(plain, first)
			n := rar3Size(plain)
			padded := (n + 15) / 16 * 16
			enc := read(off+8, max(padded, 16))
			if n < 7 || enc == nil {
				out.badPassword = blocks == 0
				end()
				return out
			}
			hdr = make([]byte, len(enc))
			cipher.NewCBCDecrypter(block, ivs[string(salt)]).CryptBlocks(hdr, enc)
			hdr = hdr[:n]
			next = off + 8 + int64(len(enc))
		} else {
			head := read(off, 7)
			if head == nil {
				end()
				return out
			}
			n := rar3Size(head)
			if hdr = read(off, n); n < 7 || hdr == nil {
				end()
				return out
			}
			next = off + int64(n)
		}
		typ, flags := hdr[2], binary.LittleEndian.Uint16(hdr[3:])
		var dataSize int64
		rest := hdr[7:]
		if flags&rar3HasData != 0 {
			if len(rest) < 4 {
				end()
				return out
			}
			dataSize = int64(binary.LittleEndian.Uint32(rest))
			rest = rest[4:]
		}
		if !rar3CRC(hdr, typ, flags, rest) {
			out.badPassword = out.encrypted && blocks == 0
			end()
			return out
		}
		switch typ {
		case rar3File, rar3Service:
			if len(rest) < 21 {
				end()
				return out
			}
			nameSize := int(binary.LittleEndian.Uint16(rest[15:]))
			f := rest[21:]
			if flags&rar3LargeData != 0 {
				if len(f) < 8 {
					end()
					return out
				}
				dataSize |= int64(binary.LittleEndian.Uint32(f)) << 32
				f = f[8:]
			}
			if len(f) < nameSize {
				end()
				return out
			}
			name := string(f[:nameSize])
			f = f[nameSize:]
			firstPart := flags&rar3SplitBefore == 0
			if flags&rar3FileSalt != 0 && len(f) >= 8 && flags&rar3FileCrypt != 0 && firstPart {
				cache.use(f[:8])
			}
			if typ == rar3File {
				if !firstPart {
					end() // rardecode refuses a continuation in a single volume
					return out
				}
				out.cost = append(out.cost, cache.derived)
			}
			if next+dataSize > size {
				out.truncated = name
			}
		case rar3End:
			if flags&rar3EndNotLast == 0 || !multi {
				end()
				return out
			}
		}
		if next+dataSize > size {
			out.truncated = cmp.Or(out.truncated, "(a block)")
			end()
			return out
		}
		off = next + dataSize
	}
	return out // cut short: what follows is unknown
}

// rar3Size returns the size of the block whose first 7 bytes are in b, as
// rardecode reads it: a main header with a comment is read as 13 bytes,
// the comment after it as a block of its own. Under 7 is malformed.
func rar3Size(b []byte) int {
	n := int(binary.LittleEndian.Uint16(b[5:]))
	if b[2] == rar3Main && binary.LittleEndian.Uint16(b[3:])&rar3MainComment != 0 {
		if n < 13 {
			return 0
		}
		return 13
	}
	return n
}

// rar3CRC checks a block header's HEAD_CRC (the low 16 bits of the CRC32
// from HEAD_TYPE on), over the bytes rardecode checks.
func rar3CRC(hdr []byte, typ byte, flags uint16, rest []byte) bool {
	covered := hdr[2:]
	switch typ {
	case rar3AV, rar3Sign:
		return true
	case rar3OldService:
		if len(rest) >= 2 && binary.LittleEndian.Uint16(rest) == 0x101 {
			return true
		}
	case rar3Comment:
		if len(rest) < 6 {
			return false
		}
		covered = hdr[2 : len(hdr)-len(rest)+6]
	case rar3File, rar3Service:
		if flags&rar3FileComment != 0 {
			return true // the comment is left out of the sum; counted as good
		}
	}
	return binary.LittleEndian.Uint16(hdr) == uint16(crc32.ChecksumIEEE(covered))
}

// isRar15 reports whether ra starts with the RAR 1.5 to 4 signature.
func isRar15(ra io.ReaderAt) bool {
	b := make([]byte, 7)
	_, err := ra.ReadAt(b, 0)
	return (err == nil || errors.Is(err, io.EOF)) && bytes.Equal(b, []byte("Rar!\x1a\x07\x00"))
}
