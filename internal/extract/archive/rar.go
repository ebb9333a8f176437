package archive

import (
	"errors"
	"io"
	"strings"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/nwaples/rardecode/v2"
)

// walkRar walks the RAR archive (RAR 1.5 to 7) in ra, whose members are
// named prefix+name and sit at depth, with github.com/nwaples/rardecode.
// The library reads it as a stream; random access lets it start again
// from the top with another password. Its dictionary limit is ours
// (MaxDictionarySize); it checks a RAR 5 password against the archive's
// check value, and every member's checksum at its end.
func (w *walker) walkRar(prefix string, depth int, ra io.ReaderAt, size int64) error {
	where := strings.TrimSuffix(prefix, "/")
	if where == "" {
		where = "(top level)"
	}
	open := func(c *candidate, skip int) (*rardecode.Reader, *rardecode.FileHeader, error) {
		opts := []rardecode.Option{rardecode.MaxDictionarySize(w.lim.MaxDictionarySize)}
		if c != nil {
			opts = append(opts, rardecode.Password(c.password))
		}
		rr, err := contained(func() (*rardecode.Reader, error) {
			return rardecode.NewReader(io.NewSectionReader(ra, 0, size), opts...)
		})
		if err != nil {
			return nil, nil, err
		}
		var h *rardecode.FileHeader
		for range skip + 1 {
			if h, err = contained(rr.Next); err != nil {
				return nil, nil, err
			}
		}
		return rr, h, nil
	}
	var pw *candidate // the password in use: rr holds it
	headerPW := false // pw opened the file list itself
	// ver, a second reader holding pw, verifies pw on each encrypted member
	// (at verAt) by reading it through, moving along with the walk: a
	// reader started from the top would, in RAR 3/4, derive again the key
	// of every encrypted member before, n²/2 derivations for n members.
	var ver *rardecode.Reader
	verAt := -1
	kdfChecked := false
	// affordable checks, before the first password is handed to the
	// library, that deriving keys costs what it should.
	affordable := func() bool {
		if !kdfChecked {
			kdfChecked = true
			if k := rar5KDF(ra, size, 4*w.lim.MaxArchiveEntries); k > MaxRARKeyDerivationPower {
				w.finding(CodeKeyDerivation, contract.VerdictUnscanned,
					"RAR archive %s asks for 2^%d key-derivation rounds per password, over the limit of 2^%d; its encrypted content was not tried", where, k, MaxRARKeyDerivationPower)
				w.rarCostly = true
			}
		}
		return !w.rarCostly
	}
	// RAR 1.5 to 4 derive a key per password and salt at a fixed cost, but
	// an archive may give every member and every encrypted header a salt of
	// its own, and rardecode derives the keys of all the encrypted headers
	// it reads past: hdrs counts them ahead, so that each reader handed a
	// password is paid for from the walk's budget first.
	var hdrs *rar3Headers
	maxBlocks := 4 * w.lim.MaxArchiveEntries
	if isRar15(ra) {
		hd := readRar3(ra, size, maxBlocks, nil, nil)
		hdrs = &hd
		if hd.truncated != "" {
			w.finding(CodeMalformed, "", "RAR archive %s: the data of %s runs past the end of the file", where, hd.truncated)
		}
	}
	rr, h, err := open(nil, 0)
	if errors.Is(err, rardecode.ErrArchiveEncrypted) && affordable() {
		// The file list itself is encrypted.
		for _, c := range candidates(w.lim.Passwords, nil) {
			if w.ctx.Err() != nil {
				return w.ctx.Err()
			}
			if hdrs != nil {
				// Read the headers with c first: a wrong password costs
				// one derivation, and a right one, its real cost.
				hd := readRar3(ra, size, maxBlocks, &c.password, func() bool { return w.spendRARKeys(1, where) })
				if w.rarCostly {
					return nil
				}
				if hd.badPassword {
					continue
				}
				hdrs = &hd
				if !w.spendRARKeys(hd.upTo(0), where) {
					return nil
				}
			}
			if rr, h, err = open(&c, 0); err == nil || errors.Is(err, io.EOF) {
				pw, headerPW = &c, true
				break
			}
		}
		if pw == nil {
			w.finding(CodeEncrypted, contract.VerdictUnscanned,
				"the file list of RAR archive %s is encrypted and no known password opens it; nothing in it can be inspected", where)
			return nil
		}
	}
	for i := 0; ; i++ {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if i > 0 {
			if pw != nil && hdrs != nil && !w.spendRARKeys(hdrs.between(i-1, i), where) {
				if headerPW {
					return nil // the finding says why
				}
				// Go on without the password: the rest of the file list is
				// plain, and what it encrypts is marked so.
				pw = nil
				rr, h, err = open(nil, i)
			} else {
				h, err = contained(rr.Next)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return w.rarError(where, err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		e := Entry{Path: prefix + name, Size: max(h.UnPackedSize, 0), CompressedSize: max(h.PackedSize, 0), Dir: h.IsDir, Flags: pathFlags(name)}
		switch h.LinkType {
		case rardecode.LinkTypeNone:
		case rardecode.LinkTypeHardLink, rardecode.LinkTypeFileCopy:
			e.Flags = append(e.Flags, "hardlink")
		default:
			e.Flags = append(e.Flags, "symlink")
			if linkEscapes(h.Name, h.LinkTarget) {
				e.Flags = append(e.Flags, "linkEscapes")
			}
		}
		w.addDeclared(uint64(e.Size))
		w.checkDeclared()
		if depth == 1 && w.info != nil && !e.Dir {
			w.info.TotalUncompressedSize += e.Size
		}
		if headerPW {
			e.UnlockedBy = pw.source
		}
		regular := !e.Dir && h.LinkType == rardecode.LinkTypeNone
		if h.Encrypted && regular && !headerPW && w.entries < w.lim.MaxArchiveEntries && !w.seen[CodeZipBomb] && affordable() {
			// Content encrypted under a plain file list: find the password
			// by reading the member through, checksum included.
			var found *candidate
			for _, c := range candidates(w.lim.Passwords, pw) {
				var r2 *rardecode.Reader
				var err error
				if ver != nil && pw != nil && c == *pw && verAt < i {
					if hdrs != nil && !w.spendRARKeys(hdrs.between(verAt, i), where) {
						break
					}
					for ; verAt < i && err == nil; verAt++ {
						_, err = contained(ver.Next)
					}
					r2 = ver
				} else {
					if hdrs != nil && !w.spendRARKeys(hdrs.upTo(i), where) {
						break
					}
					r2, _, err = open(&c, i)
				}
				if err == nil {
					_, err = io.Copy(io.Discard, &counter{w: w, r: safeReader{r2}})
				}
				if err == nil {
					found = &c
					ver, verAt = r2, i
					break
				}
				if stopped(err) {
					return err
				}
				if r2 == ver {
					ver = nil // where it stopped is not known
				}
			}
			if found != nil && (pw == nil || *found != *pw) {
				// rr does not hold this password yet.
				if hdrs != nil && !w.spendRARKeys(hdrs.upTo(i), where) {
					found = nil
				} else if rr, h, err = open(found, i); err != nil {
					return w.rarError(where, err)
				}
			}
			if found != nil {
				pw = found
				e.UnlockedBy = pw.source
			} else {
				e.Encrypted = true
			}
		} else if h.Encrypted && !headerPW {
			e.Encrypted = true
		}
		if !w.entry(e, depth) {
			return errStop
		}
		if !regular || e.Encrypted || w.seen[CodeZipBomb] {
			continue
		}
		if err := w.member(e.Path, depth, &counter{w: w, r: safeReader{rr}}, e.UnlockedBy); err != nil {
			return err
		}
	}
}

// rarError records why a RAR archive could not be read further.
func (w *walker) rarError(where string, err error) error {
	switch {
	case stopped(err):
		return err
	case errors.Is(err, rardecode.ErrDictionaryTooLarge):
		w.finding(CodeDictionaryTooLarge, contract.VerdictUnscanned,
			"RAR archive %s declares a decoder dictionary over the %d-byte limit; the rest was not decompressed", where, w.lim.MaxDictionarySize)
	case errors.Is(err, rardecode.ErrArchivedFileEncrypted), errors.Is(err, rardecode.ErrArchiveEncrypted), errors.Is(err, rardecode.ErrBadPassword):
		if w.rarCostly {
			return nil // the key-derivation finding says why
		}
		w.finding(CodeEncrypted, contract.VerdictUnscanned, "RAR archive %s is encrypted and no known password opens it", where)
	default:
		w.finding(CodeMalformed, "", "RAR archive %s could not be read: %v", where, err)
	}
	return nil
}

// MaxRARKeyDerivationPower bounds the key-derivation cost of RAR 5
// encryption (2^n rounds of PBKDF2-HMAC-SHA256 per password and salt).
// WinRAR writes 15; the library accepts up to 24, which takes about 13 s
// per password here, inside a call that cannot be interrupted.
const MaxRARKeyDerivationPower = 18

// rar5KDF returns the largest key-derivation count that the RAR 5 archive
// in ra declares, in its archive encryption header or its file encryption
// records, reading block headers only (at most maxBlocks of them). It
// returns -1 for anything it cannot read (RAR 1.5 to 4 derive keys at a
// fixed, modest cost).
func rar5KDF(ra io.ReaderAt, size int64, maxBlocks int) int {
	const sig = "Rar!\x1a\x07\x01\x00"
	head := make([]byte, len(sig))
	if _, err := ra.ReadAt(head, 0); err != nil || string(head) != sig {
		return -1
	}
	best := -1
	off := int64(len(sig))
	buf := make([]byte, 4+3)
	for range maxBlocks {
		if off+7 > size {
			break
		}
		if _, err := ra.ReadAt(buf, off+4); err != nil && !errors.Is(err, io.EOF) {
			break
		}
		hsize, n := uvarint(buf)
		if n <= 0 || hsize == 0 || hsize > 2<<20 || off+4+int64(n)+int64(hsize) > size {
			break
		}
		h := make([]byte, hsize)
		if _, err := ra.ReadAt(h, off+4+int64(n)); err != nil {
			break
		}
		next := off + 4 + int64(n) + int64(hsize)
		r := vintReader{b: h}
		typ, flags := r.next(), r.next()
		var extra, data uint64
		if flags&0x0001 != 0 {
			extra = r.next()
		}
		if flags&0x0002 != 0 {
			data = r.next()
		}
		if r.bad || extra > hsize || data > uint64(size) {
			break
		}
		switch typ {
		case 4: // archive encryption header: what follows is encrypted
			r.next() // version
			r.next() // flags
			if k, ok := r.byte(); ok {
				best = max(best, int(k))
			}
			return best
		case 2, 3: // file and service headers: records in the extra area
			e := vintReader{b: h[hsize-extra:]}
			for !e.bad && len(e.b) > 0 {
				rsize := e.next()
				if e.bad || rsize > uint64(len(e.b)) {
					break
				}
				rec := vintReader{b: e.b[:rsize]}
				e.b = e.b[rsize:]
				if rec.next() == 0x01 { // encryption record
					rec.next() // version
					rec.next() // flags
					if k, ok := rec.byte(); ok {
						best = max(best, int(k))
					}
				}
			}
		case 5: // end of archive
			return best
		}
		off = next + int64(data)
	}
	return best
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}

// vintReader reads RAR 5 variable-length integers from a header.
type vintReader struct {
	b   []byte
	bad bool
}

func (r *vintReader) next() uint64 {
	v, n := uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *vintReader) byte() (byte, bool) {
	if len(r.b) == 0 {
		r.bad = true
		return 0, false
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, true
}
