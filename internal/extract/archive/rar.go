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
	var pw *candidate // the password in use
	headerPW := false // pw opened the file list itself
	rr, h, err := open(nil, 0)
	if errors.Is(err, rardecode.ErrArchiveEncrypted) {
		// The file list itself is encrypted.
		for _, c := range candidates(w.lim.Passwords, nil) {
			if w.ctx.Err() != nil {
				return w.ctx.Err()
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
			h, err = contained(rr.Next)
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
		if h.Encrypted && regular && !headerPW && w.entries < w.lim.MaxArchiveEntries && !w.seen[CodeZipBomb] {
			// Content encrypted under a plain file list: find the password
			// by reading the member through, checksum included.
			var found *candidate
			for _, c := range candidates(w.lim.Passwords, pw) {
				r2, _, err := open(&c, i)
				if err != nil {
					if stopped(err) {
						return err
					}
					continue
				}
				_, err = io.Copy(io.Discard, &counter{w: w, r: safeReader{r2}})
				if err == nil {
					found = &c
					break
				}
				if stopped(err) {
					return err
				}
			}
			if found != nil {
				pw = found
				if rr, h, err = open(pw, i); err != nil {
					return w.rarError(where, err)
				}
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
		w.finding(CodeEncrypted, contract.VerdictUnscanned, "RAR archive %s is encrypted and no known password opens it", where)
	default:
		w.finding(CodeMalformed, "", "RAR archive %s could not be read: %v", where, err)
	}
	return nil
}
