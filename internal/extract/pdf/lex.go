package pdf

import (
	"bytes"
	"io"
	"strconv"
)

// reader is a buffered reader with the few operations the lexer needs,
// including a fast skip to a marker for stream data.
type reader struct {
	r    io.Reader
	buf  []byte
	pos  int
	end  int
	err  error // sticky, once the underlying reader fails or ends
	read int64 // bytes consumed
}

func newReader(r io.Reader) *reader { return &reader{r: r, buf: make([]byte, 64<<10)} }

// fill makes sure at least n bytes are buffered, if the input has them.
func (r *reader) fill(n int) bool {
	for r.end-r.pos < n && r.err == nil {
		if r.pos > 0 {
			copy(r.buf, r.buf[r.pos:r.end])
			r.end -= r.pos
			r.pos = 0
		}
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			r.err = err
		}
	}
	return r.end-r.pos >= n
}

// peek returns the next byte, or -1 at the end.
func (r *reader) peek() int {
	if !r.fill(1) {
		return -1
	}
	return int(r.buf[r.pos])
}

func (r *reader) next() int {
	c := r.peek()
	if c >= 0 {
		r.pos++
		r.read++
	}
	return c
}

// skipPast consumes input up to and including marker and reports whether
// marker was found.
func (r *reader) skipPast(marker []byte) bool {
	for {
		if i := bytes.Index(r.buf[r.pos:r.end], marker); i >= 0 {
			r.read += int64(i + len(marker))
			r.pos += i + len(marker)
			return true
		}
		keep := min(len(marker)-1, r.end-r.pos)
		r.read += int64(r.end - r.pos - keep)
		r.pos = r.end - keep
		if r.err != nil || !r.fill(keep+1) {
			r.read += int64(r.end - r.pos)
			r.pos = r.end
			return false
		}
	}
}

// until returns a reader of the input up to marker, which it consumes.
func (r *reader) until(marker []byte) io.Reader { return &untilReader{r: r, marker: marker} }

type untilReader struct {
	r      *reader
	marker []byte
	done   bool
}

func (u *untilReader) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	r := u.r
	r.fill(len(u.marker) + 1)
	avail := r.buf[r.pos:r.end]
	if i := bytes.Index(avail, u.marker); i >= 0 {
		n := copy(p, avail[:i])
		r.pos += n
		r.read += int64(n)
		if n == i {
			r.pos += len(u.marker)
			r.read += int64(len(u.marker))
			u.done = true
		}
		return n, nil
	}
	if len(avail) == 0 {
		u.done = true
		return 0, io.EOF
	}
	safe := len(avail) - (len(u.marker) - 1)
	if r.err != nil {
		safe = len(avail)
	}
	if safe <= 0 {
		u.done = true
		return 0, io.EOF
	}
	n := copy(p, avail[:safe])
	r.pos += n
	r.read += int64(n)
	return n, nil
}

// Token kinds.
type tokKind int

const (
	tEOF tokKind = iota
	tName
	tString
	tNumber
	tKeyword
	tDictOpen
	tDictClose
	tArrayOpen
	tArrayClose
)

type token struct {
	kind  tokKind
	s     string // name (decoded), keyword, or string bytes
	num   float64
	isInt bool
}

// Caps on what one token may hold; the rest is consumed and dropped.
const (
	maxStringLen = 64 << 10
	maxNameLen   = 256
)

func isSpace(c int) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelim(c int) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func unhex(c int) int {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return -1
}

// lexer turns the input into tokens.
type lexer struct {
	r       *reader
	pending []token
}

func (l *lexer) push(t token) { l.pending = append(l.pending, t) }

func (l *lexer) token() token {
	if n := len(l.pending); n > 0 {
		t := l.pending[n-1]
		l.pending = l.pending[:n-1]
		return t
	}
	return l.scan()
}

func (l *lexer) scan() token {
	r := l.r
	for {
		c := r.next()
		switch {
		case c < 0:
			return token{kind: tEOF}
		case isSpace(c):
			continue
		case c == '%':
			for c = r.peek(); c >= 0 && c != '\n' && c != '\r'; c = r.peek() {
				r.next()
			}
			continue
		case c == '/':
			return token{kind: tName, s: l.name()}
		case c == '(':
			return token{kind: tString, s: l.literal()}
		case c == '<':
			if r.peek() == '<' {
				r.next()
				return token{kind: tDictOpen}
			}
			return token{kind: tString, s: l.hexString()}
		case c == '>':
			if r.peek() == '>' {
				r.next()
				return token{kind: tDictClose}
			}
			continue
		case c == '[':
			return token{kind: tArrayOpen}
		case c == ']':
			return token{kind: tArrayClose}
		case c == '{', c == '}', c == ')':
			continue
		default:
			return l.regular(c)
		}
	}
}

// name reads a name after its slash, decoding #xx escapes: /J#61vaScript
// is /JavaScript.
func (l *lexer) name() string {
	r := l.r
	var b []byte
	for {
		c := r.peek()
		if c < 0 || isSpace(c) || isDelim(c) {
			break
		}
		r.next()
		if c == '#' {
			h1 := unhex(r.peek())
			if h1 >= 0 {
				r.next()
				if h2 := unhex(r.peek()); h2 >= 0 {
					r.next()
					c = h1<<4 | h2
				} else {
					c = h1
				}
			}
		}
		if len(b) < maxNameLen {
			b = append(b, byte(c))
		}
	}
	return string(b)
}

func (l *lexer) literal() string {
	r := l.r
	var b []byte
	add := func(c byte) {
		if len(b) < maxStringLen {
			b = append(b, c)
		}
	}
	depth := 1
	for {
		c := r.next()
		switch c {
		case -1:
			return string(b)
		case '(':
			depth++
			add('(')
		case ')':
			depth--
			if depth == 0 {
				return string(b)
			}
			add(')')
		case '\\':
			e := r.next()
			switch e {
			case -1:
				return string(b)
			case 'n':
				add('\n')
			case 'r':
				add('\r')
			case 't':
				add('\t')
			case 'b':
				add('\b')
			case 'f':
				add('\f')
			case '\r':
				if r.peek() == '\n' {
					r.next()
				}
			case '\n':
			default:
				if e >= '0' && e <= '7' {
					v := e - '0'
					for range 2 {
						d := r.peek()
						if d < '0' || d > '7' {
							break
						}
						r.next()
						v = v*8 + d - '0'
					}
					add(byte(v))
				} else {
					add(byte(e))
				}
			}
		default:
			add(byte(c))
		}
	}
}

func (l *lexer) hexString() string {
	r := l.r
	var b []byte
	hi := -1
	for {
		c := r.next()
		if c < 0 || c == '>' {
			break
		}
		v := unhex(c)
		if v < 0 {
			continue
		}
		if hi < 0 {
			hi = v
			continue
		}
		if len(b) < maxStringLen {
			b = append(b, byte(hi<<4|v))
		}
		hi = -1
	}
	if hi >= 0 && len(b) < maxStringLen {
		b = append(b, byte(hi<<4))
	}
	return string(b)
}

// regular reads a number or a keyword starting with c.
func (l *lexer) regular(c int) token {
	r := l.r
	b := []byte{byte(c)}
	for {
		c := r.peek()
		if c < 0 || isSpace(c) || isDelim(c) {
			break
		}
		r.next()
		if len(b) < maxNameLen {
			b = append(b, byte(c))
		}
	}
	s := string(b)
	if (b[0] >= '0' && b[0] <= '9') || b[0] == '-' || b[0] == '+' || b[0] == '.' {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return token{kind: tNumber, num: float64(i), isInt: true}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return token{kind: tNumber, num: f}
		}
	}
	return token{kind: tKeyword, s: s}
}
