package office

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Embedded is a file embedded in a compound file as an OLE object.
type Embedded struct {
	// Name is the object's label, usually its file name, as its
	// Ole10Native header gives it (Latin-1 decoded, unsanitized); "" if
	// it has none.
	Name string
	// Path is the path of its stream in the compound file, e.g.
	// "ObjectPool/_1234/Package".
	Path string
	Data []byte
	// Truncated: the object was larger than the limit and was cut.
	Truncated bool
}

// EmbeddedLimits bound what ReadEmbedded reads from one file.
type EmbeddedLimits struct {
	MaxObjects     int   // objects read; default 64
	MaxObjectBytes int64 // bytes per object; default 8 MiB
	MaxTotalBytes  int64 // bytes over all objects; default 64 MiB
}

func (l EmbeddedLimits) withDefaults() EmbeddedLimits {
	if l.MaxObjects <= 0 {
		l.MaxObjects = 64
	}
	if l.MaxObjectBytes <= 0 {
		l.MaxObjectBytes = 8 << 20
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = 64 << 20
	}
	return l
}

// ErrTooManyObjects is returned by ReadEmbedded when a compound file holds
// more embedded object streams than EmbeddedLimits.MaxObjects (damaged
// ones included), or more bytes of them than MaxTotalBytes; the objects
// before were passed to fn.
var ErrTooManyObjects = errors.New("office: more embedded objects than the limit")

// Stream names of embedded OLE objects (MS-OLEDS): an OLE 1.0 object
// (Packager, the usual way to embed an arbitrary file) keeps its native
// data in "\x01Ole10Native"; an embedded OOXML document keeps its zip in
// "Package".
const (
	ole10Native   = "\x01Ole10Native"
	packageStream = "Package"
)

// ReadEmbedded passes the files embedded as OLE objects in the compound
// file in src (a .doc, .xls, or an oleObject*.bin of an OOXML document) to
// fn: the payload of every \x01Ole10Native stream, with the label its
// header gives, and the content of every Package stream. Streams are read
// in directory order, each at most once. It returns ErrTooManyObjects when
// the count or total limit kept it from some, ErrNotOLE, or damage; an
// error from fn stops it and is returned.
func ReadEmbedded(src io.ReaderAt, size int64, lim EmbeddedLimits, fn func(Embedded) error) error {
	lim = lim.withDefaults()
	o, err := openOLE(src, size)
	if o == nil {
		return err
	}
	errs := []error{err}
	// Every object stream counts against MaxObjects, read or not: a
	// directory of a million damaged "Package" entries must not turn into
	// a million reads.
	tried, total := 0, int64(0)
	for _, s := range o.streams() {
		e := o.entries[s.index]
		native := e.name == ole10Native
		if !native && !strings.EqualFold(e.name, packageStream) {
			continue
		}
		if tried >= lim.MaxObjects || total >= lim.MaxTotalBytes {
			errs = append(errs, ErrTooManyObjects)
			break
		}
		tried++
		keep := min(lim.MaxObjectBytes, lim.MaxTotalBytes-total)
		want := keep + 1
		if native {
			want += maxNativeHeader
		}
		raw, err := o.stream(s.index, want)
		if err != nil && len(raw) == 0 {
			errs = append(errs, fmt.Errorf("%s: %w", s.path, err))
			continue
		}
		obj := Embedded{Path: s.path, Data: raw}
		if native {
			label, data, err := ParseOle10Native(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.path, err))
				continue
			}
			obj.Name, obj.Data = label, data
		}
		if int64(len(obj.Data)) > keep {
			obj.Data, obj.Truncated = obj.Data[:keep], true
		}
		total += int64(len(obj.Data))
		if err := fn(obj); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// streamRef is a stream entry and its path from the root.
type streamRef struct {
	index uint32
	path  string
}

// streams lists the stream entries reachable from the root through the
// directory's sibling trees and storages, each once (a cycle is a lie and
// is not followed), with their paths.
func (o *ole) streams() []streamRef {
	var out []streamRef
	if len(o.entries) == 0 {
		return nil
	}
	type item struct {
		index uint32
		dir   string
	}
	seen := map[uint32]bool{0: true}
	stack := []item{{o.entries[0].child, ""}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.index == noStream || int(it.index) >= len(o.entries) || seen[it.index] {
			continue
		}
		seen[it.index] = true
		e := o.entries[it.index]
		if e.typ == 0 {
			continue
		}
		// Push right before left so that siblings come out in order.
		stack = append(stack, item{e.right, it.dir}, item{e.left, it.dir})
		path := it.dir + e.name
		switch e.typ {
		case 1:
			stack = append(stack, item{e.child, path + "/"})
		case 2:
			out = append(out, streamRef{it.index, path})
		}
	}
	return out
}

// maxNativeHeader bounds the header of an Ole10Native stream read beyond
// the payload limit: two file names, a command line and their lengths.
const maxNativeHeader = 3*maxNativeString + 32

// maxNativeString bounds each string of an Ole10Native header; Packager
// writes paths of at most MAX_PATH (260) bytes.
const maxNativeString = 4096

var errOle10Native = errors.New("office: bad Ole10Native stream")

// ParseOle10Native returns the label and payload of an \x01Ole10Native
// stream (MS-OLEDS 2.3.6 OLENativeStream as Packager writes it): a 32-bit
// size, then either the Packager layout (flags 2, then the label and the
// source path as NUL-terminated ANSI strings, two 16-bit fields, the
// command line with a 32-bit length, the 32-bit payload size and the
// payload) or, for other OLE 1.0 objects, the native data itself. b may be
// cut short: the payload is then what b holds of it.
func ParseOle10Native(b []byte) (label string, data []byte, err error) {
	le := binary.LittleEndian
	if len(b) < 6 {
		return "", nil, errOle10Native
	}
	total := int64(le.Uint32(b))
	body := b[4:]
	if int64(len(body)) > total {
		body = body[:total]
	}
	switch {
	case len(body) < 3 || le.Uint16(body) != 2:
		// Not the Packager layout: the native data is the object.
		return "", body, nil
	case body[2] < 0x20:
		// Flags, then the data: no label (equations and the like). An
		// empty label looks the same, and is read the same way.
		return "", body[2:], nil
	}
	p := 2
	str := func() (string, bool) {
		end := min(len(body), p+maxNativeString)
		for i := p; i < end; i++ {
			if body[i] == 0 {
				s := latin1(body[p:i])
				p = i + 1
				return s, true
			}
		}
		return "", false
	}
	label, ok1 := str()
	_, ok2 := str() // the source path
	if !ok1 || !ok2 || p+8 > len(body) {
		return "", nil, errOle10Native
	}
	p += 4 // two 16-bit fields: flags, and 3 for an embedded (not linked) file
	cmd := int(le.Uint32(body[p:]))
	p += 4
	if cmd < 0 || cmd > maxNativeString || p+cmd+4 > len(body) {
		return "", nil, errOle10Native
	}
	p += cmd
	n := int64(le.Uint32(body[p:]))
	p += 4
	data = body[p:]
	if int64(len(data)) > n {
		data = data[:n]
	}
	return label, data, nil
}

// latin1 decodes ANSI bytes as Latin-1, so that any byte gives valid text.
func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
