package office

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cfbEntry is one directory entry of a hostile compound file.
type cfbEntry struct {
	name               string
	typ                byte // 1 storage, 2 stream, 5 root
	left, right, child uint32
	start              uint32
	size               uint64
}

// cfbV4 writes a version 4 compound file (4096-byte sectors): its FAT
// sectors, then the directory (padded with empty entries to dirSectors
// sectors, at least what entries need), then data sectors; fat edits the
// FAT before it is written. It is for shapes no writer makes.
func cfbV4(entries []cfbEntry, dirSectors int, data []byte, fat func(f []uint32, firstDir, firstData uint32)) []byte {
	const ss = 4096
	dirSectors = max(dirSectors, (len(entries)+31)/32)
	dataSectors := (len(data) + ss - 1) / ss
	nFAT := 1
	for (nFAT+dirSectors+dataSectors+1023)/1024 > nFAT {
		nFAT++
	}
	if nFAT > 109 {
		panic("cfbV4: file too large for a header-only DIFAT")
	}
	total := nFAT + dirSectors + dataSectors
	f := make([]uint32, nFAT*1024)
	for i := range f {
		f[i] = 0xffffffff
	}
	for i := range nFAT {
		f[i] = 0xfffffffd
	}
	firstDir, firstData := uint32(nFAT), uint32(nFAT+dirSectors)
	for i := range dirSectors {
		f[int(firstDir)+i] = firstDir + uint32(i) + 1
	}
	f[int(firstDir)+dirSectors-1] = 0xfffffffe
	for i := range dataSectors {
		f[int(firstData)+i] = firstData + uint32(i) + 1
	}
	if dataSectors > 0 {
		f[int(firstData)+dataSectors-1] = 0xfffffffe
	}
	if fat != nil {
		fat(f, firstDir, firstData)
	}
	le := binary.LittleEndian
	out := make([]byte, (total+1)*ss)
	h := out[:512]
	copy(h, oleSignature)
	le.PutUint16(h[24:], 0x3e)
	le.PutUint16(h[26:], 4)
	le.PutUint16(h[28:], 0xfffe)
	le.PutUint16(h[30:], 12)
	le.PutUint16(h[32:], 6)
	le.PutUint32(h[40:], uint32(dirSectors))
	le.PutUint32(h[44:], uint32(nFAT))
	le.PutUint32(h[48:], firstDir)
	le.PutUint32(h[56:], 4096)
	le.PutUint32(h[60:], 0xfffffffe)
	le.PutUint32(h[68:], 0xfffffffe)
	for i := range 109 {
		v := uint32(0xffffffff)
		if i < nFAT {
			v = uint32(i)
		}
		le.PutUint32(h[76+4*i:], v)
	}
	for i, v := range f {
		le.PutUint32(out[ss+4*i:], v)
	}
	dir := out[(int(firstDir)+1)*ss:]
	for i := range dirSectors * 32 {
		e := dir[i*128 : (i+1)*128]
		le.PutUint32(e[68:], 0xffffffff)
		le.PutUint32(e[72:], 0xffffffff)
		le.PutUint32(e[76:], 0xffffffff)
		if i >= len(entries) {
			continue
		}
		x := entries[i]
		u := utf16.Encode([]rune(x.name))
		for k, c := range u {
			le.PutUint16(e[2*k:], c)
		}
		le.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66] = x.typ
		le.PutUint32(e[68:], x.left)
		le.PutUint32(e[72:], x.right)
		le.PutUint32(e[76:], x.child)
		le.PutUint32(e[116:], x.start)
		le.PutUint64(e[120:], x.size)
	}
	copy(out[(int(firstData)+1)*ss:], data)
	return out
}

const none = 0xffffffff

// chain returns a root and n streams named name, linked as right siblings
// (a degenerate but valid tree).
func chain(n int, name func(i int) string) []cfbEntry {
	es := []cfbEntry{{name: "Root Entry", typ: 5, left: none, right: none, child: 1, start: 0xfffffffe}}
	for i := 1; i <= n; i++ {
		right := uint32(i + 1)
		if i == n {
			right = none
		}
		es = append(es, cfbEntry{name: name(i), typ: 2, left: none, right: right, child: none, start: 0xfffffffe})
	}
	return es
}

// hostileCFB are the compound files the reader must survive, by name.
func hostileCFB() map[string][]byte {
	stream := func(i int) string { return "S" }
	files := map[string][]byte{
		// A directory of 16 MiB and one of 64 MiB (131 072 and 524 288
		// entries): what is read of them must not grow with them.
		"directory-16MiB": cfbV4(chain(8, stream), 16<<20/4096, nil, nil),
		"directory-64MiB": cfbV4(chain(8, stream), 64<<20/4096, nil, nil),
	}
	// Two siblings that name each other.
	cyc := chain(3, func(i int) string { return []string{"", "WordDocument", "Macros", "Data"}[i] })
	cyc[2].right = 1
	files["sibling-cycle"] = cfbV4(cyc, 1, nil, nil)
	// One bad link in an otherwise fine directory: the root's child is
	// the third entry, whose right sibling points far past the directory.
	bad := chain(4, func(i int) string { return []string{"", "WordDocument", "Data", "Table", "Macros"}[i] })
	bad[0].child = 3
	bad[3].left, bad[3].right = 1, 0x7fff0000
	files["bad-sibling-link"] = cfbV4(bad, 1, nil, nil)
	// A stream whose size claims a terabyte over a one-sector chain.
	big := chain(1, func(int) string { return "\x01Ole10Native" })
	big[1].size, big[1].start = 1<<40, 0 // patched to the data sector below
	files["stream-claims-1TiB"] = cfbV4(big, 1, bytes.Repeat([]byte{0x41}, 4096), func(f []uint32, _, firstData uint32) {})
	le := binary.LittleEndian
	b := files["stream-claims-1TiB"]
	firstData := le.Uint32(b[48:]) + 1
	le.PutUint32(b[(int(le.Uint32(b[48:]))+1)*4096+128+116:], firstData)
	// The FAT chain of the directory loops on itself.
	files["directory-fat-loop"] = cfbV4(chain(3, stream), 4, nil, func(f []uint32, firstDir, _ uint32) {
		f[firstDir+3] = firstDir
	})
	return files
}

// allocDuring returns the bytes fn allocated.
func allocDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestOLEHostile: compound files shaped as no writer shapes them end, with
// what could be read, and memory that does not follow the file. These are
// the cases that decided against github.com/richardlehane/mscfb
// (docs/metadata.md, "OLE: mscfb or ours"). With CFB_EVAL_DIR set, the
// files are also written there for that comparison.
func TestOLEHostile(t *testing.T) {
	files := hostileCFB()
	if dir := os.Getenv("CFB_EVAL_DIR"); dir != "" {
		for name, b := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name+".cfb"), b, 0o600))
		}
	}
	read := func(b []byte) (*Info, error) { return ReadOLE(bytes.NewReader(b), int64(len(b))) }

	t.Run("a huge directory is read up to the entry limit, whatever its size", func(t *testing.T) {
		var err16, err64 error
		a16 := allocDuring(func() { _, err16 = read(files["directory-16MiB"]) })
		a64 := allocDuring(func() { _, err64 = read(files["directory-64MiB"]) })
		assert.ErrorContains(t, err16, "directory chain too long")
		assert.ErrorContains(t, err64, "directory chain too long")
		t.Logf("allocated: %.1f MiB for the 16 MiB directory, %.1f MiB for the 64 MiB one", float64(a16)/(1<<20), float64(a64)/(1<<20))
		assert.Less(t, a64, uint64(48<<20), "bounded by maxDirEntries, not by the directory")
		assert.InDelta(t, float64(a16), float64(a64), float64(a16)/4, "the same work for four times the directory")
	})
	t.Run("a sibling cycle ends and every entry is still seen", func(t *testing.T) {
		info, err := read(files["sibling-cycle"])
		require.NoError(t, err)
		assert.Equal(t, "doc", info.Format)
		assert.True(t, info.HasMacros)
		b := files["sibling-cycle"]
		assert.NotPanics(t, func() {
			_ = ReadEmbedded(bytes.NewReader(b), int64(len(b)), EmbeddedLimits{}, func(Embedded) error { return nil })
			_, _ = ReadVBA(bytes.NewReader(b), int64(len(b)), VBALimits{})
		})
	})
	t.Run("one bad link loses nothing else", func(t *testing.T) {
		info, err := read(files["bad-sibling-link"])
		require.NoError(t, err)
		assert.Equal(t, "doc", info.Format)
		assert.True(t, info.HasMacros, "the entry past the bad link is still read")
	})
	t.Run("a stream that claims a terabyte reads what its chain holds", func(t *testing.T) {
		b := files["stream-claims-1TiB"]
		var got []Embedded
		alloc := allocDuring(func() {
			_ = ReadEmbedded(bytes.NewReader(b), int64(len(b)), EmbeddedLimits{}, func(e Embedded) error {
				got = append(got, e)
				return nil
			})
		})
		assert.Less(t, alloc, uint64(32<<20))
	})
	t.Run("a directory whose FAT chain loops ends", func(t *testing.T) {
		_, err := read(files["directory-fat-loop"])
		assert.Error(t, err)
	})
}
