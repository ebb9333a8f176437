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

// Stream is one FlateDecode stream of a PDF, inflated, or one attached
// file.
type Stream struct {
	// Object is the number of the object holding the stream, -1 if it was
	// not seen.
	Object int
	// ObjStm: the stream is an object stream (/Type /ObjStm), whose
	// inflated data holds other objects.
	ObjStm bool
	// Embedded: the stream is an embedded file (/Type /EmbeddedFile), a
	// file attached to the document; FileName is the name its file
	// specification gives it (/UF, else /F), "" if none was found.
	Embedded bool
	FileName string
	Data     []byte
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
	// Decrypter, for an encrypted PDF that Security.Unlock opened,
	// decrypts each stream before it is inflated. Without it the streams
	// of an encrypted PDF do not inflate and none is passed.
	Decrypter *Decrypter
}

// maxRawStream bounds the encrypted bytes of one stream read to be
// decrypted.
const maxRawStream = 64 << 20

// maxDictWindow is how much of the text before "stream" is kept to find
// the stream's dictionary and object number.
const maxDictWindow = 4096

// Streams reads the PDF in src (size bytes) from start to end, as its
// bytes come, and passes each FlateDecode stream to fn, inflated: page
// content, fonts, and object streams, where PDF 1.5 writers put
// dictionaries (and so /JavaScript and /OpenAction) out of a byte rule's
// sight. Streams that inflate to binary data (images, fonts) are skipped
// and not counted, except object streams, which are always passed. It does
// not follow the cross-reference table: an incrementally updated or
// damaged file is read the same way, and a stream reached only through a
// lying /Length is still found. A stream whose dictionary names other
// filters, or that does not inflate, is skipped.
//
// Embedded files (streams of /Type /EmbeddedFile, FlateDecode or not
// filtered) are passed last, binary or not, each named by the file
// specification that points at it: that may come anywhere in the file, or
// in an object stream, so when there are embedded files Streams parses the
// file once more for the names (the pass Scan makes), then reads each
// embedded stream again from src at its offset.
//
// An error from fn stops the walk and is returned; when a limit trips
// Streams returns ErrStreamLimit after the streams within it.
func Streams(ctx context.Context, src io.ReaderAt, size int64, lim StreamLimits, fn func(Stream) error) error {
	sr := io.NewSectionReader(src, 0, size)
	br := bufio.NewReaderSize(sr, 64<<10)
	var window []byte // text since the last stream or object keyword
	var embedded []embeddedStream
	object, gen := -1, 0
	count := 0
	total := int64(0)
	limited := false
	// pass cuts a stream's data to keep, accounts for it and passes it on.
	pass := func(s Stream, keep int64) error {
		if int64(len(s.Data)) > keep {
			s.Data, s.Truncated = s.Data[:keep], true
		}
		count++
		total += int64(len(s.Data))
		return fn(s)
	}
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
			if n, g, ok := objectHeader(window); ok {
				object, gen = n, g
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
		if d, ok := embeddedDict(dict); ok {
			if len(embedded) >= lim.MaxStreams {
				limited = true
				continue
			}
			read, _ := sr.Seek(0, io.SeekCurrent)
			embedded = append(embedded, embeddedStream{object: object, gen: gen, offset: read - int64(br.Buffered()), dict: d})
			continue
		}
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
		var data io.Reader = br // an io.ByteReader: zlib reads no further than the stream
		if lim.Decrypter != nil {
			raw := readUntil(br, endstream, maxRawStream)
			data = bytes.NewReader(lim.Decrypter.stream(object, gen, parseDict(dict), raw))
		}
		zr, err := zlib.NewReader(data)
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
		if err := pass(Stream{Object: object, ObjStm: objStm, Data: append(head, rest...)}, keep); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var names map[int]string
	if len(embedded) > 0 {
		names = embeddedNames(ctx, io.NewSectionReader(src, 0, size))
	}
	for _, e := range embedded {
		if count >= lim.MaxStreams || total >= lim.MaxTotalBytes {
			limited = true
			break
		}
		keep := min(lim.MaxStreamBytes, lim.MaxTotalBytes-total)
		data, ok := e.read(src, size, keep, lim.Decrypter)
		if !ok {
			continue
		}
		if err := pass(Stream{Object: e.object, Embedded: true, FileName: names[e.object], Data: data}, keep); err != nil {
			return err
		}
	}
	if limited {
		return ErrStreamLimit
	}
	return ctx.Err()
}

// embeddedStream is an embedded file's stream found by the walk: its
// object, the offset of its data in the file and its dictionary.
type embeddedStream struct {
	object int
	gen    int
	offset int64
	dict   dict
}

// embeddedDict parses the dictionary before "stream" when it may be an
// embedded file's, and reports whether it is. The byte test keeps the
// parse off the streams of ordinary files: /Type /EmbeddedFile holds
// "Em", and a #-escaped spelling holds '#'.
func embeddedDict(text []byte) (dict, bool) {
	if !bytes.Contains(text, []byte("Em")) && bytes.IndexByte(text, '#') < 0 {
		return nil, false
	}
	d := parseDict(text)
	if t, _ := d["Type"].(name); t != "EmbeddedFile" {
		return nil, false
	}
	return d, true
}

// parseDict parses the text before "stream" and returns the last
// dictionary in it, the stream's.
func parseDict(text []byte) dict {
	l := &lexer{r: &reader{r: bytes.NewReader(text), buf: make([]byte, 4096)}}
	s := &scanner{ctx: context.Background(), info: &Info{}, cur: ref{num: -1}}
	var d dict
	for t := l.token(); t.kind != tEOF; t = l.token() {
		if t.kind == tDictOpen {
			d, _ = s.value(l, t, 0).(dict)
		}
	}
	return d
}

// readUntil reads br up to and past marker, or max bytes, and returns what
// came before the marker without the end of line before it.
func readUntil(br *bufio.Reader, marker []byte, max int) []byte {
	var b []byte
	for len(b) < max+len(marker) {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		b = append(b, c)
		if c == marker[len(marker)-1] && bytes.HasSuffix(b, marker) {
			b = b[:len(b)-len(marker)]
			break
		}
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// read returns the data of the embedded stream, at most keep+1 bytes so
// that the caller sees a cut, inflated if it is FlateDecode; ok is false
// for other filters and for data that does not inflate.
func (e embeddedStream) read(src io.ReaderAt, size int64, keep int64, dec *Decrypter) (data []byte, ok bool) {
	rest := io.NewSectionReader(src, e.offset, max(0, size-e.offset))
	_, filtered := e.dict["Filter"]
	if filtered && !flateOnly(e.dict) {
		return nil, false
	}
	var r io.Reader = bufio.NewReader(rest)
	if dec != nil {
		raw := rawStream(rest, e.dict, maxRawStream)
		r = bytes.NewReader(dec.stream(e.object, e.gen, e.dict, raw))
	}
	if !filtered {
		if dec != nil {
			b, _ := io.ReadAll(io.LimitReader(r, keep+1))
			return b, true
		}
		return rawStream(rest, e.dict, keep), true
	}
	zr, err := zlib.NewReader(r)
	if err != nil {
		return nil, false
	}
	data, err = io.ReadAll(io.LimitReader(zr, keep+1))
	return data, len(data) > 0 || err == nil
}

// rawStream returns at most keep+1 bytes of unfiltered stream data: /Length
// bytes when "endstream" follows them, else up to "endstream" and the end
// of line before it.
func rawStream(r *io.SectionReader, d dict, keep int64) []byte {
	buf := make([]byte, min(r.Size(), keep+1+int64(len(endstream))+2))
	n, _ := io.ReadFull(r, buf)
	buf = buf[:n]
	if l, ok := d["Length"].(float64); ok && l >= 0 && l <= float64(len(buf)) {
		after := bytes.TrimLeft(buf[int(l):], "\r\n")
		if bytes.HasPrefix(after, endstream) {
			return buf[:int(l)]
		}
	}
	if i := bytes.Index(buf, endstream); i >= 0 {
		buf = buf[:i]
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
	}
	return buf[:min(int64(len(buf)), keep+1)]
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

// objectHeader reports whether window ends with "N G obj" and returns N
// and G.
func objectHeader(w []byte) (n, gen int, ok bool) {
	if !bytes.HasSuffix(w, []byte("obj")) || bytes.HasSuffix(w, []byte("endobj")) {
		return 0, 0, false
	}
	fields := bytes.Fields(w[max(0, len(w)-40) : len(w)-3])
	if len(fields) < 2 {
		return 0, 0, false
	}
	gen, err := strconv.Atoi(string(fields[len(fields)-1]))
	if err != nil || gen < 0 {
		return 0, 0, false
	}
	n, err = strconv.Atoi(string(fields[len(fields)-2]))
	if err != nil || n < 0 {
		return 0, 0, false
	}
	return n, gen, true
}

// isObjStm reports whether a stream dictionary declares an object stream.
func isObjStm(dict []byte) bool {
	d := bytes.ReplaceAll(dict, []byte(" "), nil)
	return bytes.Contains(d, []byte("/Type/ObjStm"))
}
