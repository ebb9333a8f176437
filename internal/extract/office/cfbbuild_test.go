package office

import (
	"encoding/binary"
	"unicode/utf16"
)

// hEntry is a directory entry of a compound file built by buildCFB. The
// tree links are entry indices (0 is the root), set by the caller so that
// a test can break them.
type hEntry struct {
	name               string
	typ                byte // 1 storage, 2 stream, 5 root
	left, right, child uint32
	data               []byte
}

// entry returns a stream (or, with typ 1, a storage) with no links.
func entry(name string, typ byte, data []byte) hEntry {
	return hEntry{name: name, typ: typ, left: noStream, right: noStream, child: noStream, data: data}
}

// siblings hangs kids under parent as a balanced tree of left and right
// links, as a writer that keeps the red-black tree balanced would.
func siblings(es []hEntry, parent uint32, kids ...uint32) {
	var tree func(k []uint32) uint32
	tree = func(k []uint32) uint32 {
		if len(k) == 0 {
			return noStream
		}
		mid := len(k) / 2
		es[k[mid]].left, es[k[mid]].right = tree(k[:mid]), tree(k[mid+1:])
		return k[mid]
	}
	es[parent].child = tree(kids)
}

// builtCFB is a compound file laid out as FAT sectors, directory, mini
// FAT, mini stream, then the regular streams one after another, with its
// layout kept so that tests can damage it.
type builtCFB struct {
	b        []byte
	ss       int
	dirStart int
	dirLen   int      // directory sectors
	spare    uint32   // the first spare sector
	start    []uint32 // first (mini) sector of each entry's stream
	mini     []bool   // the stream lives in the mini stream
}

const (
	cfbFree    = 0xffffffff
	cfbFATSect = 0xfffffffd
)

// buildCFB writes a compound file of version 3 (shift 9) or 4 (shift 12)
// holding es, whose entry 0 is the root; spare zeroed sectors follow the
// streams for tests to use. Streams under 4096 bytes go to the mini
// stream. The FAT must fit the 109 sectors the header lists.
func buildCFB(shift int, es []hEntry, spare int) *builtCFB {
	ss := 1 << shift
	per := ss / 4
	f := &builtCFB{ss: ss, start: make([]uint32, len(es)), mini: make([]bool, len(es))}
	var mini []byte
	var miniFAT []uint32
	for i, e := range es {
		f.start[i] = endOfChain
		if e.typ != 2 || len(e.data) == 0 || len(e.data) >= 4096 {
			continue
		}
		f.start[i], f.mini[i] = uint32(len(mini)/miniSector), true
		n := (len(e.data) + miniSector - 1) / miniSector
		for k := range n {
			next := uint32(endOfChain)
			if k < n-1 {
				next = uint32(len(miniFAT) + 1)
			}
			miniFAT = append(miniFAT, next)
		}
		mini = append(mini, e.data...)
		mini = append(mini, make([]byte, n*miniSector-len(e.data))...)
	}
	sectors := func(n int) int { return (n + ss - 1) / ss }
	f.dirLen = sectors(len(es) * 128)
	body := f.dirLen + sectors(len(miniFAT)*4) + sectors(len(mini)) + spare
	for _, e := range es {
		if e.typ == 2 && len(e.data) >= 4096 {
			body += sectors(len(e.data))
		}
	}
	nFAT := 1
	for nFAT*per < nFAT+body {
		nFAT++
	}
	if nFAT > 109 {
		panic("buildCFB: FAT beyond the header's DIFAT")
	}
	total := nFAT + body
	fat := make([]uint32, nFAT*per)
	for i := range fat {
		fat[i] = cfbFree
	}
	for i := range nFAT {
		fat[i] = cfbFATSect
	}
	next := nFAT
	chain := func(n int) uint32 {
		if n == 0 {
			return endOfChain
		}
		first := next
		for k := range n {
			fat[first+k] = uint32(first + k + 1)
		}
		fat[first+n-1] = endOfChain
		next += n
		return uint32(first)
	}
	f.dirStart = int(chain(f.dirLen))
	miniFATStart := chain(sectors(len(miniFAT) * 4))
	miniStart := chain(sectors(len(mini)))
	for i, e := range es {
		if e.typ == 2 && len(e.data) >= 4096 {
			f.start[i] = chain(sectors(len(e.data)))
		}
	}
	f.start[0] = miniStart
	f.spare = uint32(next)

	le := binary.LittleEndian
	out := make([]byte, (1+total)*ss)
	hdr := out[:512]
	copy(hdr, oleSignature)
	le.PutUint16(hdr[24:], 0x3e)
	le.PutUint16(hdr[26:], uint16(shift-6)) // 3 or 4
	le.PutUint16(hdr[28:], 0xfffe)
	le.PutUint16(hdr[30:], uint16(shift))
	le.PutUint16(hdr[32:], 6)
	if shift == 12 {
		le.PutUint32(hdr[40:], uint32(f.dirLen))
	}
	le.PutUint32(hdr[44:], uint32(nFAT))
	le.PutUint32(hdr[48:], uint32(f.dirStart))
	le.PutUint32(hdr[56:], 4096)
	le.PutUint32(hdr[60:], miniFATStart)
	le.PutUint32(hdr[64:], uint32(sectors(len(miniFAT)*4)))
	le.PutUint32(hdr[68:], endOfChain)
	for i := range 109 {
		v := uint32(cfbFree)
		if i < nFAT {
			v = uint32(i)
		}
		le.PutUint32(hdr[76+4*i:], v)
	}
	for i, v := range fat {
		le.PutUint32(out[ss+4*i:], v)
	}
	for i := range f.dirLen * ss / 128 {
		e := f.entryBytes(out, i)
		le.PutUint32(e[68:], noStream)
		le.PutUint32(e[72:], noStream)
		le.PutUint32(e[76:], noStream)
		if i >= len(es) {
			continue
		}
		x := es[i]
		name := utf16.Encode([]rune(x.name))
		for j, c := range name {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[64:], uint16(2*(len(name)+1)))
		e[66], e[67] = x.typ, 1
		le.PutUint32(e[68:], x.left)
		le.PutUint32(e[72:], x.right)
		le.PutUint32(e[76:], x.child)
		le.PutUint32(e[116:], f.start[i])
		size := len(x.data)
		if i == 0 {
			size = len(mini)
		}
		le.PutUint32(e[120:], uint32(size))
	}
	at := func(s uint32) []byte { return out[(int(s)+1)*ss:] }
	if len(miniFAT) > 0 {
		for i, v := range miniFAT {
			le.PutUint32(at(miniFATStart)[4*i:], v)
		}
		for i := len(miniFAT); i < sectors(len(miniFAT)*4)*per; i++ {
			le.PutUint32(at(miniFATStart)[4*i:], cfbFree)
		}
		copy(at(miniStart), mini)
	}
	for i, e := range es {
		if e.typ == 2 && len(e.data) >= 4096 {
			copy(at(f.start[i]), e.data)
		}
	}
	f.b = out
	return f
}

func (f *builtCFB) entryBytes(b []byte, i int) []byte {
	off := (f.dirStart+1)*f.ss + i*128
	return b[off : off+128]
}

// setFAT points sector s's FAT entry at next.
func (f *builtCFB) setFAT(s, next uint32) {
	binary.LittleEndian.PutUint32(f.b[f.ss+4*int(s):], next)
}

// setEntry writes a 32-bit field of directory entry i: 68 left, 72 right,
// 76 child, 116 start, 120 size.
func (f *builtCFB) setEntry(i, field int, v uint32) {
	binary.LittleEndian.PutUint32(f.entryBytes(f.b, i)[field:], v)
}

// setHeader writes a 32-bit header field.
func (f *builtCFB) setHeader(off int, v uint32) {
	binary.LittleEndian.PutUint32(f.b[off:], v)
}
