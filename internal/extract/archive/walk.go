package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/intellidox/intellidox/internal/contract"
)

// Inspect lists the archive in src (size bytes) and returns its metadata and
// the findings of the limits that tripped. It returns a nil Info when src
// is not an archive it knows (zip, tar, gzip, 7z, RAR).
func Inspect(ctx context.Context, src io.ReaderAt, size int64, lim Limits) (*Info, []contract.Finding) {
	head := make([]byte, sniffSize)
	n, _ := src.ReadAt(head, 0)
	k := sniff(head[:n])
	if k == kindOther {
		return nil, nil
	}
	w := newWalker(ctx, lim, size)
	w.info = &Info{Entries: []Entry{}}
	var err error
	switch k {
	case kindZip:
		w.info.Format = "zip"
		w.enter(1, "")
		err = w.walkZip("", 1, src, size)
	case kind7z:
		w.info.Format = "7z"
		w.enter(1, "")
		err = w.walk7z("", 1, src, size)
	case kindRar:
		w.info.Format = "rar"
		w.enter(1, "")
		err = w.walkRar("", 1, src, size)
	default:
		err = w.walkStream(k, io.NewSectionReader(src, 0, size))
	}
	return w.done(err)
}

// InspectStream is Inspect for the formats that can be read as a stream:
// tar and gzip (including tar.gz). It returns a nil Info for anything else.
// It reads r no further than it needs.
func InspectStream(ctx context.Context, r io.Reader, size int64, lim Limits) (*Info, []contract.Finding) {
	head := make([]byte, sniffSize)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil
	}
	k := sniff(head[:n])
	if k != kindTar && k != kindGzip {
		return nil, nil
	}
	w := newWalker(ctx, lim, size)
	w.info = &Info{Entries: []Entry{}}
	return w.done(w.walkStream(k, io.MultiReader(bytes.NewReader(head[:n]), r)))
}

// Member is one archive member handed to WalkMembers' callback.
type Member struct {
	// Path names the member from the top-level archive down, e.g.
	// "outer.zip/inner/evil.js".
	Path string
	// Body is the decompressed content; the callback need not read it to
	// the end.
	Body io.Reader
	// UnlockedBy names the password list that opened the member (or an
	// archive holding it), "" if it was not encrypted.
	UnlockedBy string
}

// Walk is WalkMembers for callers that need only the path and content.
func Walk(ctx context.Context, src io.ReaderAt, size int64, lim Limits, fn func(path string, body io.Reader) error) error {
	return WalkMembers(ctx, src, size, lim, func(m Member) error { return fn(m.Path, m.Body) })
}

// WalkMembers calls fn for each regular member of the archive in src
// (zip, tar, gzip, 7z, RAR), recursing into nested archives within lim. path names the member
// from the top-level archive down, e.g. "outer.zip/inner/evil.js"; body is
// its decompressed content, which fn need not read to the end. A nested
// archive is opened rather than passed to fn, unless a limit keeps it
// closed: it is then passed whole, so that the scanner still sees its bytes.
// Encrypted members are tried with lim.Passwords; those no password opens,
// and members in unsupported compression methods, are skipped. WalkMembers
// calls fn for nothing when src is not an archive.
//
// An error returned by fn stops the walk and is returned, except when it
// comes from reading a damaged member: that member is skipped. When limits
// kept Walk from some members, it returns a *LimitError listing why. A
// panic while walking (a parser bug on a hostile archive, or in fn) is
// returned as an error rather than taking the scanner down.
func WalkMembers(ctx context.Context, src io.ReaderAt, size int64, lim Limits, fn func(m Member) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("archive: walk failed: %v", v)
		}
	}()
	head := make([]byte, sniffSize)
	n, _ := src.ReadAt(head, 0)
	k := sniff(head[:n])
	if k == kindOther {
		return nil
	}
	w := newWalker(ctx, lim, size)
	w.fn = fn
	var werr error
	switch k {
	case kindZip:
		w.enter(1, "")
		werr = w.walkZip("", 1, src, size)
	case kind7z:
		w.enter(1, "")
		werr = w.walk7z("", 1, src, size)
	case kindRar:
		w.enter(1, "")
		werr = w.walkRar("", 1, src, size)
	default:
		werr = w.walkStream(k, io.NewSectionReader(src, 0, size))
	}
	if werr != nil && !stopped(werr) {
		return werr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var limits []contract.Finding
	for _, f := range w.findings {
		if f.Effect != "" && f.Code != CodePathTraversal {
			limits = append(limits, f)
		}
	}
	if len(limits) > 0 {
		return &LimitError{Findings: limits}
	}
	return nil
}

// walkStream walks a top-level tar or gzip.
func (w *walker) walkStream(k kind, r io.Reader) error {
	w.enter(1, "")
	if k == kindTar {
		if w.info != nil {
			w.info.Format = "tar"
		}
		return w.walkTar("", 1, r)
	}
	if w.info != nil {
		w.info.Format = "gzip"
	}
	return w.walkGzip("", 1, r)
}

// done finishes Inspect.
func (w *walker) done(err error) (*Info, []contract.Finding) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		w.finding(CodeAnalysisCancelled, contract.VerdictUnscanned, "archive listing stopped before the end: out of time")
	}
	w.info.NestingDepth = w.depth
	w.info.CompressionRatio = float64(int64(float64(w.info.TotalUncompressedSize)/float64(w.fileSize)*100+0.5)) / 100
	return w.info, w.findings
}

// member visits the content r of the member at path, at depth: it opens a
// nested archive, or hands the content to fn. by names the password list
// that opened the member, if any.
func (w *walker) member(p string, depth int, r io.Reader, by string) error {
	if by != "" {
		// What lies inside an unlocked member was reached by that list too.
		defer func(via string) { w.via = via }(w.via)
		w.via = by
	}
	head := make([]byte, sniffSize)
	n, err := io.ReadFull(r, head)
	head = head[:n]
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		return w.unreadable(p, err)
	}
	body := io.MultiReader(bytes.NewReader(head), r)
	switch k := sniff(head); k {
	case kindZip, kindTar, kindGzip, kind7z, kindRar:
		if w.enter(depth+1, p) {
			w.flag(p, "archive")
			switch k {
			case kindZip, kind7z, kindRar:
				return w.nestedZip(p, depth+1, body, k)
			case kindTar:
				return w.walkTar(p+"/", depth+1, body)
			default:
				return w.walkGzip(p, depth+1, body)
			}
		}
		w.flag(p, "notInspected")
		if k == kindZip {
			// Too deep to open, but a look at its directory costs little and
			// catches the innermost level of a nested bomb.
			buf, rest, err := w.buffer(body)
			if err != nil {
				return err
			}
			if rest == nil {
				w.buffered += int64(len(buf))
				defer func() { w.buffered -= int64(len(buf)) }()
				if zr, err := zip.NewReader(bytes.NewReader(buf), int64(len(buf))); err == nil || errors.Is(err, zip.ErrInsecurePath) {
					if zipFilesOK(bytes.NewReader(buf), int64(len(buf)), w.lim) {
						for _, f := range zr.File {
							w.addDeclared(f.UncompressedSize64)
						}
						w.checkDeclared()
					}
				}
				body = bytes.NewReader(buf)
			} else {
				body = io.MultiReader(bytes.NewReader(buf), rest)
			}
		}
	}
	if w.fn == nil {
		return nil
	}
	return w.call(p, body)
}

// walkRandom walks an archive that needs random access (zip, 7z, RAR).
func (w *walker) walkRandom(k kind, prefix string, depth int, ra io.ReaderAt, size int64) error {
	switch k {
	case kind7z:
		return w.walk7z(prefix, depth, ra, size)
	case kindRar:
		return w.walkRar(prefix, depth, ra, size)
	}
	return w.walkZip(prefix, depth, ra, size)
}

// unreadable records a member whose content could not be read.
func (w *walker) unreadable(p string, err error) error {
	if stopped(err) {
		return err
	}
	w.flag(p, "notInspected")
	w.finding(CodeMalformed, "", "member %s could not be read: %v", p, err)
	return nil
}

// call hands a member to fn, telling fn's own errors from the member's.
func (w *walker) call(p string, body io.Reader) error {
	mr := &memberReader{r: body}
	err := w.fn(Member{Path: p, Body: mr, UnlockedBy: w.via})
	if err == nil {
		return nil
	}
	if mr.err != nil {
		return w.unreadable(p, mr.err)
	}
	return err
}

// memberReader remembers the error its reader returned, other than EOF.
type memberReader struct {
	r   io.Reader
	err error
}

func (m *memberReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF {
		m.err = err
	}
	return n, err
}

// buffer reads r into memory if it fits in what remains of
// MaxNestedArchiveSize. If it does not, it returns what it read and the
// rest of r, and records a finding.
func (w *walker) buffer(r io.Reader) ([]byte, io.Reader, error) {
	room := max(w.lim.MaxNestedArchiveSize-w.buffered, 0)
	buf, err := io.ReadAll(io.LimitReader(r, room+1))
	if err != nil {
		if stopped(err) {
			return nil, nil, err
		}
		return buf, nil, nil // a damaged member: what was read is all there is
	}
	if int64(len(buf)) > room {
		w.finding(CodeNestedTooLarge, contract.VerdictUnscanned,
			"a nested zip, 7z or RAR archive is larger than the %d bytes that may be buffered to open it; it was not inspected", w.lim.MaxNestedArchiveSize)
		return buf, r, nil
	}
	return buf, nil, nil
}

// nestedZip buffers a nested zip, 7z or RAR (k), which need random access,
// and walks it.
func (w *walker) nestedZip(p string, depth int, r io.Reader, k kind) error {
	buf, rest, err := w.buffer(r)
	if err != nil {
		return err
	}
	if rest != nil {
		w.flag(p, "notInspected")
		if w.fn != nil {
			return w.call(p, io.MultiReader(bytes.NewReader(buf), rest))
		}
		return nil
	}
	w.buffered += int64(len(buf))
	defer func() { w.buffered -= int64(len(buf)) }()
	return w.walkRandom(k, p+"/", depth, bytes.NewReader(buf), int64(len(buf)))
}

func (w *walker) addDeclared(n uint64) {
	if n > 1<<62 || w.declared+int64(n) < w.declared {
		w.declared = 1 << 62
		return
	}
	w.declared += int64(n)
}

// walkZip walks the zip in ra, whose members are named prefix+name and sit
// at depth.
func (w *walker) walkZip(prefix string, depth int, ra io.ReaderAt, size int64) error {
	if !zipFilesOK(ra, size, w.lim) {
		w.finding(CodeTooManyEntries, contract.VerdictUnscanned,
			"a zip directory declares far more than %d members; it was not listed", w.lim.MaxArchiveEntries)
		return nil
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		w.finding(CodeMalformed, "", "zip archive %s could not be read: %v", strings.TrimSuffix(prefix, "/"), err)
		return nil
	}
	// Account for what the directory declares before decompressing
	// anything: a bomb is reported from its directory alone.
	for _, f := range zr.File {
		w.addDeclared(f.UncompressedSize64)
		if depth == 1 && w.info != nil {
			w.info.TotalUncompressedSize += int64(min(f.UncompressedSize64, 1<<62))
		}
	}
	w.checkDeclared()
	for _, f := range zr.File {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		e := Entry{
			Path:           prefix + f.Name,
			Size:           int64(min(f.UncompressedSize64, 1<<62)),
			CompressedSize: int64(min(f.CompressedSize64, 1<<62)),
			Dir:            strings.HasSuffix(f.Name, "/"),
			Encrypted:      f.Flags&0x1 != 0 || f.Method == 99,
			Flags:          pathFlags(f.Name),
		}
		if f.Mode()&fs.ModeSymlink != 0 {
			e.Flags = append(e.Flags, "symlink")
		}
		var open func() (io.ReadCloser, error) = f.Open
		if e.Encrypted && !e.Dir && w.entries < w.lim.MaxArchiveEntries && !w.seen[CodeZipBomb] {
			c, err := w.unlockZip(f)
			if err != nil {
				return err
			}
			if c != nil {
				e.Encrypted, e.UnlockedBy = false, c.source
				open = func() (io.ReadCloser, error) { return openEncrypted(f, c.password) }
			}
		}
		if !w.entry(e, depth) {
			return errStop
		}
		if e.Dir || e.Encrypted || f.Mode()&fs.ModeSymlink != 0 || w.seen[CodeZipBomb] {
			continue
		}
		if e.UnlockedBy == "" && f.Method != zip.Store && f.Method != zip.Deflate {
			w.flag(e.Path, "notInspected")
			w.finding(CodeUnsupported, contract.VerdictUnscanned,
				"member %s uses compression method %d, which cannot be decompressed here", e.Path, f.Method)
			continue
		}
		if !w.shouldSniff(f.Name) {
			continue
		}
		rc, err := open()
		if err != nil {
			if err := w.unreadable(e.Path, err); err != nil {
				return err
			}
			continue
		}
		err = w.member(e.Path, depth, &counter{w: w, r: rc}, e.UnlockedBy)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// maxSniffs is how many zip members Inspect opens to look for nested
// archives by content; after that, only members named like archives are
// opened. Each look is a read of the member's first bytes, which through an
// HTTP src is one request: a big zip with thousands of members must not
// turn into thousands of requests. Walk reads every member regardless.
const maxSniffs = 256

// archiveExts name members that are opened even past maxSniffs.
var archiveExts = []string{".zip", ".jar", ".war", ".apk", ".docx", ".docm", ".xlsx", ".xlsm", ".pptx", ".pptm",
	".odt", ".ods", ".epub", ".gz", ".tgz", ".tar", ".nupkg", ".whl", ".xpi", ".crx", ".7z", ".rar"}

// shouldSniff reports whether the zip member name is to be opened.
func (w *walker) shouldSniff(name string) bool {
	if w.fn != nil {
		return true
	}
	w.sniffs++
	if w.sniffs <= maxSniffs {
		return true
	}
	lower := strings.ToLower(name)
	for _, ext := range archiveExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// zipFilesOK reads the end of central directory record of a zip and
// reports whether the member count it declares is small enough to let
// archive/zip load the whole directory (it keeps every entry in memory).
func zipFilesOK(ra io.ReaderAt, size int64, lim Limits) bool {
	const eocdLen, maxComment = 22, 65535
	tail := min(size, eocdLen+maxComment)
	buf := make([]byte, tail)
	if _, err := ra.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return true // let archive/zip report the damage
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || len(buf)-i < eocdLen {
		return true
	}
	records := uint64(binary.LittleEndian.Uint16(buf[i+10:]))
	if records == 0xffff && i >= 20 && string(buf[i-20:i-16]) == "PK\x06\x07" {
		off := int64(binary.LittleEndian.Uint64(buf[i-20+8:]))
		rec := make([]byte, 56)
		if off >= 0 && off < size {
			if _, err := ra.ReadAt(rec, off); err == nil && string(rec[:4]) == "PK\x06\x06" {
				records = binary.LittleEndian.Uint64(rec[32:])
			}
		}
	}
	return records <= 16*uint64(lim.MaxArchiveEntries)
}

// walkTar walks a tar stream whose members are named prefix+name and sit at
// depth.
func (w *walker) walkTar(prefix string, depth int, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if stopped(err) {
				return err
			}
			w.finding(CodeMalformed, "", "tar archive %s is damaged: %v", strings.TrimSuffix(prefix, "/"), err)
			return nil
		}
		e := Entry{Path: prefix + hdr.Name, Size: hdr.Size, Flags: pathFlags(hdr.Name)}
		if underLink(w.escapes, prefix+strings.TrimPrefix(hdr.Name, "./")) {
			e.Flags = append(e.Flags, "throughLink")
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			e.Dir = true
		case tar.TypeSymlink, tar.TypeLink:
			f := "symlink"
			if hdr.Typeflag == tar.TypeLink {
				f = "hardlink"
			}
			e.Flags = append(e.Flags, f)
			if linkEscapes(hdr.Name, hdr.Linkname) {
				e.Flags = append(e.Flags, "linkEscapes")
				if hdr.Typeflag == tar.TypeSymlink && len(w.escapes) < maxEscapes {
					if w.escapes == nil {
						w.escapes = map[string]bool{}
					}
					w.escapes[prefix+strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")] = true
				}
			}
		}
		regular := hdr.Typeflag == tar.TypeReg || hdr.Typeflag == 0 || hdr.Typeflag == tar.TypeGNUSparse
		if depth == 1 && w.info != nil && regular {
			w.info.TotalUncompressedSize += hdr.Size
		}
		if !w.entry(e, depth) {
			return errStop
		}
		if regular {
			if err := w.member(e.Path, depth, tr, ""); err != nil {
				return err
			}
		}
	}
}

// walkGzip walks a gzip stream found at p (empty at the top level), at
// depth. A tar inside is walked at the same depth: a .tar.gz is one archive.
// Any other content is one member, named from the gzip header or from p.
func (w *walker) walkGzip(p string, depth int, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		if stopped(err) {
			return err
		}
		w.finding(CodeMalformed, "", "gzip stream %s could not be read: %v", p, err)
		return nil
	}
	defer zr.Close()
	c := &counter{w: w, r: zr}
	head := make([]byte, sniffSize)
	n, err := io.ReadFull(c, head)
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		return w.unreadable(p, err)
	}
	body := io.MultiReader(bytes.NewReader(head[:n]), c)
	prefix := ""
	if p != "" {
		prefix = p + "/"
	}
	if sniff(head[:n]) == kindTar {
		if depth == 1 && w.info != nil {
			w.info.Format = "tar.gz"
		}
		return w.walkTar(prefix, depth, body)
	}
	name := path.Base(strings.ReplaceAll(zr.Name, `\`, "/"))
	if name == "." || name == "/" || name == "" {
		name = strings.TrimSuffix(strings.TrimSuffix(path.Base(p), ".gz"), ".tgz")
		if name == "" || name == "." {
			name = "data"
		}
	}
	e := Entry{Path: prefix + name}
	if !w.entry(e, depth) {
		return errStop
	}
	sized := &sizeReader{r: body}
	if err := w.member(e.Path, depth, sized, ""); err != nil {
		return err
	}
	if w.info == nil {
		return nil
	}
	// The size of a gzip member is known only by decompressing it all.
	if _, err := io.Copy(io.Discard, sized); err != nil {
		if stopped(err) {
			return err
		}
		return w.unreadable(e.Path, err)
	}
	if depth == 1 {
		w.info.TotalUncompressedSize = sized.n
	}
	for i := range w.info.Entries {
		if w.info.Entries[i].Path == e.Path {
			w.info.Entries[i].Size = sized.n
		}
	}
	return nil
}

// sizeReader counts what is read through it.
type sizeReader struct {
	r io.Reader
	n int64
}

func (s *sizeReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

// ErrTooManyEntries is returned by OpenZip for a directory too large to
// load.
var ErrTooManyEntries = errors.New("archive: zip directory declares too many members")

// OpenZip opens the zip in ra for reading its members, refusing directories
// that declare far more members than lim allows (archive/zip keeps the
// whole directory in memory).
func OpenZip(ra io.ReaderAt, size int64, lim Limits) (*zip.Reader, error) {
	if !zipFilesOK(ra, size, lim.WithDefaults()) {
		return nil, ErrTooManyEntries
	}
	zr, err := zip.NewReader(ra, size)
	if errors.Is(err, zip.ErrInsecurePath) {
		err = nil
	}
	return zr, err
}

// unlockZip finds a password for the encrypted zip member f: each
// candidate that passes the quick check (ZipCrypto's check byte, which one
// wrong password in 256 passes; WinZip's verifier) is verified by reading
// the member through, CRC or authentication code included, counted against
// the decompression limits. It returns nil when none opens it, and an
// error when a limit stopped the walk.
func (w *walker) unlockZip(f *zip.File) (*candidate, error) {
	for _, c := range candidates(w.lim.Passwords, w.lastZip) {
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
		rc, err := openEncrypted(f, c.password)
		if err != nil {
			continue
		}
		_, err = io.Copy(io.Discard, &counter{w: w, r: rc})
		rc.Close()
		if err == nil {
			w.lastZip = &c
			return &c, nil
		}
		if stopped(err) {
			return nil, err
		}
	}
	return nil, nil
}
