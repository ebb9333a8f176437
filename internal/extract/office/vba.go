package office

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
)

// Module is one VBA module's source, decompressed from its module stream.
type Module struct {
	// Name is the module's name from the dir stream (e.g. "ThisDocument",
	// "Module1"), reduced to printable ASCII.
	Name string
	// Source is the decompressed source text, as the VBA editor shows it
	// (with the Attribute lines it hides).
	Source []byte
	// Truncated: the source was longer than the limit and was cut.
	Truncated bool
}

// VBALimits bound what ReadVBA decodes from one file.
type VBALimits struct {
	MaxModules     int // modules decoded; default 64
	MaxModuleBytes int // decompressed bytes per module; default 4 MiB
	MaxTotalBytes  int // decompressed bytes over all modules; default 16 MiB
}

func (l VBALimits) withDefaults() VBALimits {
	if l.MaxModules <= 0 {
		l.MaxModules = 64
	}
	if l.MaxModuleBytes <= 0 {
		l.MaxModuleBytes = 4 << 20
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = 16 << 20
	}
	return l
}

// maxDirStream bounds the dir stream read and decompressed: real ones are a
// few KiB, one record per module and reference.
const maxDirStream = 1 << 20

// ErrTooManyModules is returned with the modules decoded when a VBA project
// holds more than VBALimits.MaxModules, or a file more VBA storages.
var ErrTooManyModules = errors.New("office: more VBA modules than the limit")

// ReadVBA decodes the source of the VBA modules in the compound file in src
// (a .doc, .xls, .ppt, or the vbaProject.bin of an OOXML document): for
// each storage named VBA it reads the MS-OVBA-compressed dir stream for the
// module names, stream names and source offsets (MS-OVBA 2.3.4.2), then
// decompresses each module stream from its offset. It returns the modules
// decoded, and an error if some could not be: ErrTooManyModules,
// ErrTooLarge (a module was truncated), ErrNotOLE, or damage.
func ReadVBA(src io.ReaderAt, size int64, lim VBALimits) ([]Module, error) {
	lim = lim.withDefaults()
	o, err := openOLE(src, size)
	if err == nil && len(o.entries) == 0 {
		err = errors.New("office: empty directory")
	}
	if err != nil {
		return nil, err
	}
	var mods []Module
	var errs []error
	v := &vbaRead{lim: lim, budget: lim.MaxTotalBytes, dirs: map[uint32]bool{}, tried: map[uint32]bool{}}
	storages := 0
	for i, e := range o.entries {
		if e.typ != 1 || !strings.EqualFold(e.name, "VBA") {
			continue
		}
		// Every VBA storage counts against MaxModules, decoded or not: a
		// directory of thousands of them must not turn into thousands of
		// dir streams inflated to a megabyte each.
		if storages >= lim.MaxModules {
			errs = append(errs, ErrTooManyModules)
			break
		}
		storages++
		got, err := o.vbaStorage(uint32(i), v)
		mods = append(mods, got...)
		if err != nil {
			errs = append(errs, err)
		}
		if len(mods) >= lim.MaxModules {
			break
		}
	}
	return mods, errors.Join(errs...)
}

// vbaRead is what ReadVBA has read of a file so far: each dir stream and
// each module stream is read once, however many storages name it.
type vbaRead struct {
	lim    VBALimits
	budget int             // decompressed bytes left
	dirs   map[uint32]bool // dir streams read
	tried  map[uint32]bool // module streams read, at most MaxModules
}

// dirModule is a module as the dir stream describes it.
type dirModule struct {
	name, stream string
	offset       uint32
}

// vbaStorage decodes the modules of one VBA storage that v has not read.
func (o *ole) vbaStorage(storage uint32, v *vbaRead) ([]Module, error) {
	lim := v.lim
	kids := o.children(storage)
	dirEntry, ok := kids["DIR"]
	if !ok {
		return nil, errors.New("office: VBA storage without a dir stream")
	}
	if v.dirs[dirEntry] {
		return nil, nil // another storage's dir stream, decoded already
	}
	v.dirs[dirEntry] = true
	raw, err := o.stream(dirEntry, maxDirStream)
	if err != nil {
		return nil, err
	}
	dir, err := DecompressOVBA(raw, maxDirStream)
	if err != nil && len(dir) == 0 {
		return nil, fmt.Errorf("office: dir stream: %w", err)
	}
	var mods []Module
	var errs []error
	// Every module the dir names counts against MaxModules, decoded or
	// not, and each stream is read once in the file: a dir stream
	// decompresses to a megabyte of records from a few bytes, and must not
	// turn into as many reads.
	for _, m := range parseDir(dir) {
		if len(v.tried) >= lim.MaxModules {
			errs = append(errs, ErrTooManyModules)
			break
		}
		if v.budget <= 0 {
			errs = append(errs, fmt.Errorf("module %s: %w", printable(m.name), ErrTooLarge))
			break
		}
		idx, ok := kids[strings.ToUpper(m.stream)]
		if !ok {
			idx, ok = kids[strings.ToUpper(m.name)]
		}
		if !ok || v.tried[idx] {
			continue // a module the storage lacks, or a stream already read
		}
		v.tried[idx] = true
		// Compressed source is at most 9/8 of the text plus chunk
		// headers, after the performance cache at offset.
		raw, err := o.stream(idx, int64(m.offset)+int64(lim.MaxModuleBytes)*2+4096)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if int64(m.offset) >= int64(len(raw)) {
			continue
		}
		src, err := DecompressOVBA(raw[m.offset:], min(lim.MaxModuleBytes, v.budget))
		v.budget -= len(src)
		mod := Module{Name: printable(m.name), Source: src}
		switch {
		case errors.Is(err, ErrTooLarge):
			mod.Truncated = true
			errs = append(errs, fmt.Errorf("module %s: %w", mod.Name, err))
		case err != nil && len(src) == 0:
			errs = append(errs, fmt.Errorf("module %s: %w", mod.Name, err))
			continue
		}
		mods = append(mods, mod)
	}
	return mods, errors.Join(errs...)
}

// Record ids of the dir stream (MS-OVBA 2.3.4.2) that ReadVBA uses.
const (
	dirProjectVersion = 0x0009 // its Size field says 4 but 6 bytes follow
	dirTerminator     = 0x0010
	dirModuleName     = 0x0019
	dirModuleStream   = 0x001A
	dirModuleEnd      = 0x002B
	dirModuleOffset   = 0x0031
)

// parseDir lists the modules of a decompressed dir stream. Every record is
// an id, a size and that many bytes, except PROJECTVERSION; damage ends the
// list with the modules read so far.
func parseDir(d []byte) []dirModule {
	le := binary.LittleEndian
	var mods []dirModule
	var cur *dirModule
	flush := func() {
		if cur != nil && cur.name != "" {
			mods = append(mods, *cur)
		}
		cur = nil
	}
	for p := 0; p+6 <= len(d); {
		id, size := le.Uint16(d[p:]), int64(le.Uint32(d[p+2:]))
		p += 6
		if id == dirProjectVersion {
			size = 6
		}
		if size > int64(len(d)-p) {
			break
		}
		data := d[p : p+int(size)]
		p += int(size)
		switch id {
		case dirModuleName:
			flush()
			cur = &dirModule{name: string(data)}
		case dirModuleStream:
			if cur != nil {
				cur.stream = string(data)
			}
		case dirModuleOffset:
			if cur != nil && len(data) == 4 {
				cur.offset = le.Uint32(data)
			}
		case dirModuleEnd:
			flush()
		case dirTerminator:
			flush()
			return mods
		}
	}
	flush()
	return mods
}

// printable keeps the printable ASCII of a module name, for a view's label.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x21 || c > 0x7e {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// ole reads the streams of a compound file, within bounds set by its size.
type ole struct {
	*cfb
	nsect     int64
	entries   []oleEntry
	hdr       []byte
	miniFAT   []uint32 // read on first use
	miniChain []uint32 // sectors of the mini stream, read on first use
	miniRead  bool
}

// oleEntry is one directory entry; invalid slots keep their index (the
// tree links are indices) with type 0.
type oleEntry struct {
	name                      string
	typ                       byte
	left, right, child, start uint32
	size                      int64
}

const noStream = 0xffffffff

// openOLE reads the header, DIFAT and directory of a compound file. On a
// damaged directory it returns the entries read before the damage, and the
// error; it returns no file only when the header is not one.
func openOLE(src io.ReaderAt, size int64) (*ole, error) {
	hdr := make([]byte, 512)
	if _, err := src.ReadAt(hdr, 0); err != nil || string(hdr[:8]) != oleSignature {
		return nil, ErrNotOLE
	}
	le := binary.LittleEndian
	shift := le.Uint16(hdr[30:])
	if shift != 9 && shift != 12 {
		return nil, errors.New("office: bad sector size")
	}
	ss := int64(1) << shift
	o := &ole{cfb: &cfb{src: src, size: size, ss: ss, fat: map[uint32][]byte{}}, nsect: size/ss + 1, hdr: hdr}
	for i := range 109 {
		o.difat = append(o.difat, le.Uint32(hdr[76+4*i:]))
	}
	maxFAT := o.nsect/(ss/4) + 2
	next := le.Uint32(hdr[68:])
	for next <= maxRegSect && int64(len(o.difat)) < maxFAT {
		b, err := o.sector(next)
		if err != nil {
			break
		}
		for i := int64(0); i < ss/4-1; i++ {
			o.difat = append(o.difat, le.Uint32(b[4*i:]))
		}
		next = le.Uint32(b[ss-4:])
	}
	s := le.Uint32(hdr[48:])
	for steps := int64(0); s <= maxRegSect; steps++ {
		if steps > o.nsect || len(o.entries) >= maxDirEntries {
			return o, errors.New("office: directory chain too long")
		}
		b, err := o.sector(s)
		if err != nil {
			return o, err
		}
		for off := int64(0); off+128 <= ss; off += 128 {
			o.entries = append(o.entries, parseEntry(b[off:off+128], shift == 12))
		}
		if s, err = o.next(s); err != nil {
			return o, err
		}
	}
	return o, nil
}

func parseEntry(e []byte, v4 bool) oleEntry {
	le := binary.LittleEndian
	x := oleEntry{typ: e[66], left: le.Uint32(e[68:]), right: le.Uint32(e[72:]),
		child: le.Uint32(e[76:]), start: le.Uint32(e[116:]), size: int64(le.Uint32(e[120:]))}
	if v4 {
		x.size = int64(le.Uint64(e[120:]) & (1<<40 - 1))
	}
	n := int(le.Uint16(e[64:]))
	if x.typ != 1 && x.typ != 2 && x.typ != 5 || n < 2 || n > 64 {
		return oleEntry{}
	}
	u := make([]uint16, n/2-1)
	for i := range u {
		u[i] = le.Uint16(e[2*i:])
	}
	x.name = string(utf16.Decode(u))
	return x
}

// children maps the upper-cased names of a storage's children to their
// entries, walking the sibling tree with a visited set (a cycle is a lie).
func (o *ole) children(storage uint32) map[string]uint32 {
	out := map[string]uint32{}
	seen := map[uint32]bool{}
	stack := []uint32{o.entries[storage].child}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i == noStream || int(i) >= len(o.entries) || seen[i] {
			continue
		}
		seen[i] = true
		e := o.entries[i]
		if e.typ == 0 {
			continue
		}
		out[strings.ToUpper(e.name)] = i
		stack = append(stack, e.left, e.right)
	}
	return out
}

// miniCutoff is the size from which a stream lives in regular sectors.
// The header repeats it, but MS-CFB fixes it at 4096 and so do other
// readers: a header that says otherwise must not make us read other bytes
// for a stream than they do.
const miniCutoff = 4096

// stream reads at most max bytes of a stream entry: from the mini stream
// when it is below the cutoff, else from its FAT chain.
func (o *ole) stream(i uint32, max int64) ([]byte, error) {
	e := o.entries[i]
	want := min(e.size, max, o.size)
	if e.size < miniCutoff {
		return o.miniStream(e.start, want)
	}
	out := make([]byte, 0, want)
	s := e.start
	for steps := int64(0); int64(len(out)) < want; steps++ {
		if s > maxRegSect || steps > o.nsect {
			return out, errors.New("office: stream chain ends early")
		}
		b, err := o.sector(s)
		if err != nil {
			return out, err
		}
		out = append(out, b[:min(int64(len(b)), want-int64(len(out)))]...)
		if s, err = o.next(s); err != nil && int64(len(out)) < want {
			return out, err
		}
	}
	return out, nil
}

const miniSector = 64

// miniStream reads want bytes of a stream in the mini stream.
func (o *ole) miniStream(start uint32, want int64) ([]byte, error) {
	o.loadMini()
	out := make([]byte, 0, want)
	m := start
	for steps := 0; int64(len(out)) < want; steps++ {
		if int(m) >= len(o.miniFAT) || steps > len(o.miniFAT) {
			return out, errors.New("office: mini stream chain ends early")
		}
		off := int64(m) * miniSector
		if off/o.ss >= int64(len(o.miniChain)) {
			return out, errors.New("office: mini sector out of range")
		}
		b, err := o.sector(o.miniChain[off/o.ss])
		if err != nil {
			return out, err
		}
		in := off % o.ss
		out = append(out, b[in:in+min(miniSector, want-int64(len(out)))]...)
		m = o.miniFAT[m]
	}
	return out, nil
}

// loadMini reads the mini FAT and the sector chain of the mini stream (the
// root entry's stream) once. Each chain ends at damage or at a sector it
// has already passed (a cycle): the sectors before stay readable, and a
// stream that needs more finds its mini sector out of range.
func (o *ole) loadMini() {
	if o.miniRead {
		return
	}
	o.miniRead = true
	le := binary.LittleEndian
	seen := newSectorSet(o.nsect)
	for s := le.Uint32(o.hdr[60:]); s <= maxRegSect && seen.add(s); {
		b, err := o.sector(s)
		if err != nil {
			break
		}
		for i := int64(0); i+4 <= o.ss; i += 4 {
			o.miniFAT = append(o.miniFAT, le.Uint32(b[i:]))
		}
		if s, err = o.next(s); err != nil {
			break
		}
	}
	seen = newSectorSet(o.nsect)
	for s := o.entries[0].start; s <= maxRegSect && seen.add(s); {
		o.miniChain = append(o.miniChain, s)
		var err error
		if s, err = o.next(s); err != nil {
			break
		}
	}
}

// sectorSet is a set of the sector numbers of a file, a bit each.
type sectorSet []uint64

func newSectorSet(nsect int64) sectorSet { return make(sectorSet, nsect/64+1) }

// add adds s and reports whether it is a sector of the file not added
// before.
func (set sectorSet) add(s uint32) bool {
	i, bit := int(s/64), uint64(1)<<(s%64)
	if i >= len(set) || set[i]&bit != 0 {
		return false
	}
	set[i] |= bit
	return true
}
