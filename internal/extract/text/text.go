// Package text describes text files read as a stream: their encoding,
// line count and a short preview that is safe to display.
package text

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Info is the text metadata of a file (metadata["text"]).
type Info struct {
	// Encoding is "ascii", "utf-8", "utf-16le", "utf-16be" (these two only
	// with a byte-order mark) or "latin-1" (a guess for 8-bit text that is
	// not UTF-8; it may be Windows-1252 or another single-byte code page).
	Encoding string `json:"encoding"`
	BOM      bool   `json:"bom"`
	// LineCount counts lines: line feeds, plus one for a last line without
	// one. Files with bare carriage returns (classic Mac) count those.
	LineCount int64 `json:"lineCount"`
	// Preview is the first PreviewLength characters, with line feeds and
	// tabs kept, carriage returns dropped, and other control and invisible
	// formatting characters (such as bidirectional overrides) shown as
	// \u escapes.
	Preview string `json:"preview"`
}

// PreviewLength is the number of characters in Info.Preview.
const PreviewLength = 200

// headLen is how much of the start is kept to build the preview.
const headLen = 4 * PreviewLength * 2

// Scan reads r to its end (or until ctx is done) and describes it as text.
func Scan(ctx context.Context, r io.Reader) (*Info, error) {
	s := &scanner{}
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return s.info(), err
		}
		n, err := r.Read(buf)
		s.write(buf[:n])
		if err == io.EOF {
			return s.info(), nil
		}
		if err != nil {
			return s.info(), err
		}
	}
}

type scanner struct {
	started  bool
	enc      string // from the BOM: "utf-8", "utf-16le", "utf-16be"; else ""
	bom      bool
	head     []byte // the first headLen bytes after any BOM
	n        int64  // bytes after any BOM
	lf, cr   int64
	last     uint16 // the last byte (8-bit text) or code unit (UTF-16)
	nonASCII bool
	invalid  bool   // not valid UTF-8
	carry    []byte // an incomplete UTF-8 sequence at the end of the last chunk
	odd      bool   // UTF-16: the first byte of a code unit is pending
	pend     byte
}

func (s *scanner) write(p []byte) {
	if !s.started {
		// Wait for the 3 bytes a byte-order mark may take.
		s.head = append(s.head, p...)
		if len(s.head) >= 3 {
			s.start()
		}
		return
	}
	s.feed(p)
}

// start looks for a byte-order mark in the bytes gathered so far.
func (s *scanner) start() {
	s.started = true
	p := s.head
	s.head = nil
	switch {
	case bytes.HasPrefix(p, []byte{0xef, 0xbb, 0xbf}):
		s.enc, s.bom, p = "utf-8", true, p[3:]
	case bytes.HasPrefix(p, []byte{0xff, 0xfe}):
		s.enc, s.bom, p = "utf-16le", true, p[2:]
	case bytes.HasPrefix(p, []byte{0xfe, 0xff}):
		s.enc, s.bom, p = "utf-16be", true, p[2:]
	}
	s.feed(p)
}

func (s *scanner) feed(p []byte) {
	if len(s.head) < headLen {
		s.head = append(s.head, p[:min(len(p), headLen-len(s.head))]...)
	}
	if strings.HasPrefix(s.enc, "utf-16") {
		s.write16(p)
		return
	}
	s.n += int64(len(p))
	s.lf += int64(bytes.Count(p, []byte{'\n'}))
	s.cr += int64(bytes.Count(p, []byte{'\r'}))
	if len(p) > 0 {
		s.last = uint16(p[len(p)-1])
	}
	if s.invalid {
		return
	}
	// Check UTF-8 validity across chunk boundaries: complete the sequence
	// carried over from the last chunk, and carry this chunk's incomplete
	// tail to the next.
	if len(s.carry) > 0 {
		need := min(utf8.UTFMax-len(s.carry), len(p))
		joined := append(s.carry, p[:need]...)
		if !utf8.FullRune(joined) {
			s.carry = joined
			return
		}
		r, size := utf8.DecodeRune(joined)
		if r == utf8.RuneError && size <= 1 {
			s.invalid = true
			return
		}
		s.nonASCII = true
		p = p[size-len(s.carry):]
		s.carry = nil
	}
	// Hold back an incomplete sequence at the end.
	for k := 1; k <= min(utf8.UTFMax-1, len(p)); k++ {
		c := p[len(p)-k]
		if c < utf8.RuneSelf {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(p[len(p)-k:]) {
				s.carry = append([]byte(nil), p[len(p)-k:]...)
				p = p[:len(p)-k]
			}
			break
		}
	}
	if !utf8.Valid(p) {
		s.invalid = true
		return
	}
	if !s.nonASCII && utf8.RuneCount(p) != len(p) {
		s.nonASCII = true
	}
}

func (s *scanner) write16(p []byte) {
	le := s.enc == "utf-16le"
	for _, c := range p {
		s.n++
		if !s.odd {
			s.pend = c
			s.odd = true
			continue
		}
		s.odd = false
		unit := uint16(s.pend)<<8 | uint16(c)
		if le {
			unit = uint16(c)<<8 | uint16(s.pend)
		}
		switch unit {
		case '\n':
			s.lf++
		case '\r':
			s.cr++
		}
		s.last = unit
	}
}

func (s *scanner) info() *Info {
	if !s.started {
		s.start() // fewer than 3 bytes in all
	}
	info := &Info{Encoding: s.enc, BOM: s.bom}
	if strings.HasPrefix(s.enc, "utf-16") {
		info.LineCount = lines(s.lf, s.cr, s.n, s.last == '\n' || (s.lf == 0 && s.last == '\r'))
		info.Preview = preview(decode16(s.head, s.enc == "utf-16le"))
		return info
	}
	switch {
	case s.enc == "utf-8":
		if s.invalid || len(s.carry) > 0 {
			info.Encoding = "latin-1"
		}
	case s.invalid || len(s.carry) > 0:
		info.Encoding = "latin-1"
	case s.nonASCII:
		info.Encoding = "utf-8"
	default:
		info.Encoding = "ascii"
	}
	info.LineCount = lines(s.lf, s.cr, s.n, s.last == '\n' || (s.lf == 0 && s.last == '\r'))
	var rs []rune
	if info.Encoding == "latin-1" {
		for _, c := range s.head {
			rs = append(rs, rune(c))
		}
	} else {
		rs = []rune(string(s.head))
	}
	info.Preview = preview(rs)
	return info
}

// lines turns counts into a line count.
func lines(lf, cr, n int64, endsWithBreak bool) int64 {
	breaks := lf
	if lf == 0 {
		breaks = cr
	}
	if n > 0 && !endsWithBreak {
		breaks++
	}
	return breaks
}

func decode16(b []byte, le bool) []rune {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if le {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		} else {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
	}
	return utf16.Decode(u)
}

// preview returns the first PreviewLength characters of rs, safe to show.
func preview(rs []rune) string {
	var b strings.Builder
	n := 0
	for _, r := range rs {
		if n == PreviewLength {
			break
		}
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			continue
		case r == utf8.RuneError:
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}
