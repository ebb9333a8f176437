package pdf

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"io"
	"strconv"
)

// Stream is one FlateDecode stream of a PDF, inflated.
type Stream struct {
	// Object is the number of the object holding the stream, -1 if it was
	// not seen.
	Object int
	// ObjStm: the stream is an object stream (/Type /ObjStm), whose
	// inflated data holds other objects.
	ObjStm bool
	Data   []byte
	// Truncated: the stream inflates to more than the limit and was cut.
	Truncated bool
}

// ErrStreamLimit is returned by Streams when the count or total limit kept
// it from some streams; the streams before were passed to fn. A stream cut
// by the per-stream limit is passed with Truncated set.
var ErrStreamLimit = errors.New("pdf: stream limit reached")

// StreamLimits bound what Streams inflates.
type StreamLimits struct {
	MaxStreams     int   // streams inflated
	MaxStreamBytes int64 // inflated bytes kept per stream
	MaxTotalBytes  int64 // inflated bytes over all streams
}

// maxDictWindow is how much of the text before "stream" is kept to find
// the stream's dictionary and object number.
const maxDictWindow = 4096

// Streams reads a PDF from start to end, as its bytes come, and passes each
// FlateDecode stream to fn, inflated: page content, fonts, and object
// streams, where PDF 1.5 writers put dictionaries (and so /JavaScript and
// /OpenAction) out of a byte rule's sight. Streams that inflate to binary
// data (images, fonts) are skipped and not counted, except object streams,
// which are always passed. It does not follow the
// cross-reference table: an incrementally updated or damaged file is read
// the same way, and a stream reached only through a lying /Length is still
// found. A stream whose dictionary names other filters, or that does not
// inflate, is skipped. An error from fn stops the walk and is returned;
// when a limit trips Streams returns ErrStreamLimit after the streams
// within it.
func Streams(ctx context.Context, r io.Reader, lim StreamLimits, fn func(Stream) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var window []byte // text since the last stream or object keyword
	object := -1
	count := 0
	total := int64(0)
	limited := false
	for {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		window = append(window, c)
		if len(window) > 2*maxDictWindow {
			window = append(window[:0], window[len(window)-maxDictWindow:]...)
		}
		switch c {
		case 'j':
			if n, ok := objectHeader(window); ok {
				object = n
				window = window[:0]
			}
			continue
		case '\n', '\r':
		default:
			continue
		}
		// "stream" then an end of line starts the data; "endstream" does not.
		w := bytes.TrimRight(window, "\r\n")
		if !bytes.HasSuffix(w, []byte("stream")) || bytes.HasSuffix(w, []byte("endstream")) {
			continue
		}
		if c == '\r' {
			if b, _ := br.Peek(1); len(b) == 1 && b[0] == '\n' {
				_, _ = br.ReadByte()
			}
		}
		dict := w
		window = window[:0]
		if !bytes.Contains(dict, []byte("/Fl")) { // /FlateDecode, or /Fl abbreviated
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if count >= lim.MaxStreams || total >= lim.MaxTotalBytes {
			limited = true
			continue // keep reading: the rest of the file yields nothing more
		}
		zr, err := zlib.NewReader(br) // br is an io.ByteReader: zlib reads no further than the stream
		if err != nil {
			continue
		}
		keep := min(lim.MaxStreamBytes, lim.MaxTotalBytes-total)
		objStm := isObjStm(dict)
		head, err := io.ReadAll(io.LimitReader(zr, min(keep+1, sniffText)))
		if len(head) == 0 && err != nil {
			continue
		}
		if !objStm && binary(head) {
			continue // an image, a font: nothing a rule on text reads, and most of a PDF's bytes
		}
		rest, _ := io.ReadAll(io.LimitReader(zr, keep+1-int64(len(head))))
		data := append(head, rest...)
		s := Stream{Object: object, ObjStm: objStm, Data: data}
		if int64(len(data)) > keep {
			s.Data, s.Truncated = data[:keep], true
		}
		count++
		total += int64(len(s.Data))
		if err := fn(s); err != nil {
			return err
		}
	}
	if limited {
		return ErrStreamLimit
	}
	return ctx.Err()
}

// sniffText is how much of an inflated stream tells text from binary.
const sniffText = 1024

// binary reports whether b looks like binary data rather than text: more
// than one byte in eight is a control character other than white space.
// PDF content, dictionaries and scripts are text; images and fonts are not.
func binary(b []byte) bool {
	n := 0
	for _, c := range b {
		if c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f {
			n++
		}
	}
	return n*8 > len(b)
}

// objectHeader reports whether window ends with "N G obj" and returns N.
func objectHeader(w []byte) (int, bool) {
	if !bytes.HasSuffix(w, []byte("obj")) || bytes.HasSuffix(w, []byte("endobj")) {
		return 0, false
	}
	fields := bytes.Fields(w[max(0, len(w)-40) : len(w)-3])
	if len(fields) < 2 {
		return 0, false
	}
	if _, err := strconv.Atoi(string(fields[len(fields)-1])); err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(fields[len(fields)-2]))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// isObjStm reports whether a stream dictionary declares an object stream.
func isObjStm(dict []byte) bool {
	d := bytes.ReplaceAll(dict, []byte(" "), nil)
	return bytes.Contains(d, []byte("/Type/ObjStm"))
}
