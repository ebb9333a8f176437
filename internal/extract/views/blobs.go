package views

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
)

// Character classes of the blob finder, one table lookup a byte.
const (
	cB64    = 1 << iota // the base64 alphabets: A-Z a-z 0-9 + / - _
	cHex                // 0-9 a-f A-F
	cUpper              // A-Z
	cLower              // a-z
	cDigit              // 0-9
	cNotHex             // a base64 character that is no hex digit
)

var classes = func() (t [256]uint8) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cB64 | cUpper
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cB64 | cLower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cB64 | cDigit | cHex
	}
	for _, c := range "abcdefABCDEF" {
		t[c] |= cHex
	}
	for _, c := range "+/-_" {
		t[c] = cB64
	}
	for c := range t {
		if t[c]&cB64 != 0 && t[c]&cHex == 0 {
			t[c] |= cNotHex
		}
	}
	return t
}()

// minLine is how long the line a run has so far must be for a line break
// to continue it: base64 wrapped at 64 or 76 characters (PEM, MIME) and
// hex wrapped at 128 (RTF) are read as one blob, while short words on
// their own lines are not strung together.
const minLine = 16

// blob is one base64 or hex run of a text, decoded.
type blob struct {
	kind      string // KindBase64 or KindHex
	offset    int64  // of its first character, in the text as read
	data      []byte
	truncated bool // the run decodes to more than the finder keeps
}

// blobFinder finds runs of base64 (standard or URL alphabet) or hex in a
// text, as it streams by, and decodes those that decode to at least
// minBytes. A line break continues a run whose line is long, so that
// wrapped blobs read whole; the line after the break stays tentative
// until it ends: ended by a space or a sentence's punctuation it is prose
// that happened to follow a blob, and is a run of its own.
type blobFinder struct {
	minBytes int
	maxBytes int64 // decoded bytes kept per blob
	fn       func(blob) error

	run    []byte // the run's characters, without line breaks, at most maxRun
	runLen int64  // characters in the run, including those not kept
	start  int64
	line   int   // characters since the run's last line break
	seen   uint8 // classes of the run's characters, those not kept included
	brk    byte  // 0, or the line break ('\r' or '\n') the run is waiting behind
	// The line after the last break: where it starts in run, and in the
	// file; seg is -1 when the run has had no break.
	seg    int
	segOff int64
}

func newBlobFinder(minBytes int, maxBytes int64, fn func(blob) error) *blobFinder {
	return &blobFinder{minBytes: minBytes, maxBytes: maxBytes, fn: fn, seg: -1}
}

// maxRun is how many characters of a run are kept: enough for maxBytes of
// hex, the less dense encoding.
func (f *blobFinder) maxRun() int64 { return 2*f.maxBytes + 4 }

// prose reports whether c, ending a line that followed a blob, shows the
// line to be text rather than the blob's last line.
func prose(c byte) bool {
	switch c {
	case ' ', '\t', '.', ',', ';', ':', '!', '?':
		return true
	}
	return false
}

// write scans p, text whose character i is at byte off+stride*i of the
// file (stride 2 for UTF-16 narrowed to a byte a character).
func (f *blobFinder) write(p []byte, off, stride int64) error {
	for i, c := range p {
		if cl := classes[c]; cl&cB64 != 0 {
			at := off + stride*int64(i)
			switch {
			case f.runLen == 0:
				f.start, f.seg, f.seen = at, -1, 0
			case f.brk != 0:
				f.seg, f.segOff = len(f.run), at
			}
			if f.runLen < f.maxRun() {
				f.run = append(f.run, c)
			}
			f.runLen++
			f.line++
			f.seen |= cl
			f.brk = 0
			continue
		}
		if f.runLen == 0 {
			continue
		}
		if c == '\n' || c == '\r' {
			switch {
			case f.brk == 0 && f.line >= minLine:
				f.brk, f.line = c, 0
				continue
			case f.brk == '\r' && c == '\n':
				f.brk = '\n' // the second half of CRLF
				continue
			}
		}
		var err error
		if f.seg >= 0 && f.brk == 0 && prose(c) && f.runLen == int64(len(f.run)) {
			err = f.split()
		} else {
			err = f.flush()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// split ends the run before its last line, and that line as a run of its
// own.
func (f *blobFinder) split() error {
	line := append([]byte(nil), f.run[f.seg:]...)
	start := f.segOff
	f.run, f.runLen, f.seen = f.run[:f.seg], int64(f.seg), classesOf(f.run[:f.seg])
	if err := f.flush(); err != nil {
		return err
	}
	f.run, f.runLen, f.start, f.seen = append(f.run, line...), int64(len(line)), start, classesOf(line)
	return f.flush()
}

func classesOf(b []byte) uint8 {
	var seen uint8
	for _, c := range b {
		seen |= classes[c]
	}
	return seen
}

func (f *blobFinder) reset() { f.run, f.runLen, f.line, f.brk, f.seg = f.run[:0], 0, 0, 0, -1 }

// flush ends the run, and decodes it if it is a blob: hex if every
// character is a hex digit, else base64; upper and lower case and digits
// must all appear in base64, digits and letters in hex.
func (f *blobFinder) flush() error {
	short := f.runLen*3/4 < int64(f.minBytes) // the common case: a word
	if short || f.runLen == 0 {
		f.reset()
		return nil
	}
	defer f.reset()
	seen := f.seen
	hexOnly := seen&cNotHex == 0
	var b blob
	switch {
	case hexOnly && seen&cDigit != 0 && seen&(cUpper|cLower) != 0 && f.runLen/2 >= int64(f.minBytes):
		run := f.run[:len(f.run)&^1]
		b = blob{kind: KindHex, data: make([]byte, len(run)/2)}
		if _, err := hex.Decode(b.data, run); err != nil {
			return nil
		}
		b.truncated = f.runLen > int64(len(f.run))
	case !hexOnly && seen&cUpper != 0 && seen&cLower != 0 && seen&cDigit != 0:
		run := f.run
		if len(run)%4 == 1 {
			run = run[:len(run)-1] // a stray character: no whole byte in it
		}
		for i, c := range run {
			switch c { // the URL alphabet, read as the standard one
			case '-':
				run[i] = '+'
			case '_':
				run[i] = '/'
			}
		}
		b = blob{kind: KindBase64, data: make([]byte, base64.RawStdEncoding.DecodedLen(len(run)))}
		n, err := base64.RawStdEncoding.Decode(b.data, run)
		if err != nil {
			return nil
		}
		b.data = b.data[:n]
		b.truncated = f.runLen > int64(len(f.run))
	default:
		return nil
	}
	if int64(len(b.data)) > f.maxBytes {
		b.data, b.truncated = b.data[:f.maxBytes], true
	}
	b.offset = f.start
	return f.fn(b)
}

// textKind says how a file's head reads as text.
type textKind int

const (
	notText textKind = iota
	text8            // ASCII, UTF-8 or another 8-bit encoding
	text16           // UTF-16LE, as Windows writes scripts
)

// sniffText tells text from binary by a file's first bytes: 8-bit text has
// no NUL and few other control characters; UTF-16LE text has a byte-order
// mark, or a zero high byte in nearly every character. It returns where
// the text starts (after a byte-order mark).
func sniffText(head []byte) (textKind, int) {
	if len(head) >= 2 && head[0] == 0xff && head[1] == 0xfe {
		return text16, 2
	}
	ctl, nul := 0, 0
	for _, c := range head {
		switch {
		case c == 0:
			nul++
		case c < 0x09 || (c > 0x0d && c < 0x20 && c != 0x1b) || c == 0x7f:
			ctl++
		}
	}
	if nul == 0 && ctl*32 <= len(head) {
		return text8, 0
	}
	// UTF-16LE without a mark: ASCII text with a zero after each byte.
	pairs, zeros, printable := len(head)/2, 0, 0
	for i := 0; i+1 < len(head); i += 2 {
		if head[i+1] == 0 {
			zeros++
			if c := head[i]; c >= 0x20 && c < 0x7f || c == '\t' || c == '\n' || c == '\r' {
				printable++
			}
		}
	}
	if pairs >= 8 && zeros*16 >= pairs*15 && printable*16 >= zeros*15 {
		return text16, 0
	}
	return notText, 0
}

// errStop stops a blob search from inside fn without an error.
var errStop = errors.New("views: stop")

// findBlobs reads the text r (of the kind sniffText found, starting at
// byte skip of the file) and passes its blobs to fn, with offsets in the
// file. UTF-16LE text is read one character in two bytes; a character
// outside ASCII ends a run.
func findBlobs(ctx context.Context, r io.Reader, kind textKind, skip int64, f *blobFinder) error {
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, 32<<10)
	var narrow []byte
	off := skip
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := br.Read(buf)
		p := buf[:n]
		if kind == text16 {
			if n%2 == 1 { // keep characters whole
				if c, err := br.ReadByte(); err == nil {
					p = append(p, c)
				}
			}
			narrow = narrow[:0]
			for i := 0; i+1 < len(p); i += 2 {
				c := p[i]
				if p[i+1] != 0 {
					c = 0xff // not ASCII: ends a run
				}
				narrow = append(narrow, c)
			}
			if werr := f.write(narrow, off, 2); werr != nil {
				return werr
			}
		} else if werr := f.write(p, off, 1); werr != nil {
			return werr
		}
		off += int64(len(p))
		if err == io.EOF {
			return f.flush()
		}
		if err != nil {
			return err
		}
	}
}
