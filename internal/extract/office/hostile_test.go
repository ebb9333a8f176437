package office

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

// Entries of hostileDoc.
const (
	hdWordDocument = 1 + iota
	hdTable
	hdObjectPool
	hdObject1
	hdNative1 // in regular sectors
	hdObject2
	hdNative2 // in the mini stream
)

var (
	hostilePayload1 = bytes.Repeat([]byte("MZ payload one "), 400) // 6000 bytes
	hostilePayload2 = bytes.Repeat([]byte("two "), 75)             // 300 bytes
)

// hostileDoc is a .doc-like compound file: WordDocument (regular sectors),
// 1Table (mini stream), and two embedded objects, one in regular sectors
// and one in the mini stream.
func hostileDoc() *builtCFB {
	es := []hEntry{
		entry("Root Entry", 5, nil),
		entry("WordDocument", 2, bytes.Repeat([]byte{0xec, 0xa5, 0xc1, 0x00}, 2048)),
		entry("1Table", 2, bytes.Repeat([]byte{7}, 1000)),
		entry("ObjectPool", 1, nil),
		entry("_1", 1, nil),
		entry(ole10Native, 2, samples.Ole10Native("one.exe", `C:\one.exe`, hostilePayload1)),
		entry("_2", 1, nil),
		entry(ole10Native, 2, samples.Ole10Native("two.txt", `C:\two.txt`, hostilePayload2)),
	}
	siblings(es, 0, hdWordDocument, hdTable, hdObjectPool)
	siblings(es, hdObjectPool, hdObject1, hdObject2)
	siblings(es, hdObject1, hdNative1)
	siblings(es, hdObject2, hdNative2)
	return buildCFB(9, es, 2)
}

// hugeDirectory is a version 4 compound file whose directory holds n
// streams in a balanced tree, the first named WordDocument.
func hugeDirectory(n int) []byte {
	es := make([]hEntry, n+1)
	es[0] = entry("Root Entry", 5, nil)
	kids := make([]uint32, n)
	for i := range n {
		es[i+1] = entry(fmt.Sprintf("s%07d", i), 2, nil)
		kids[i] = uint32(i + 1)
	}
	es[1].name = "WordDocument"
	siblings(es, 0, kids...)
	return buildCFB(12, es, 0).b
}

// hostileCase is a damaged compound file and what our reader must still
// get out of it.
type hostileCase struct {
	name    string
	data    []byte
	format  string   // ReadOLE's Format
	objects []string // labels ReadEmbedded passes on
	intact  bool     // the objects' payloads come out unchanged
	modules []string // ReadVBA's modules, for VBA projects
}

func hostileCases() []hostileCase {
	both := []string{"one.exe", "two.txt"}
	doc := func(damage func(f *builtCFB)) []byte {
		f := hostileDoc()
		damage(f)
		return f.b
	}
	le := binary.LittleEndian
	vba := func(damage func(b []byte, at func(name string) []byte)) []byte {
		b := samples.VBAProject(samples.VBAModule{Name: "Module1", Source: samples.ShellMacroSource},
			samples.VBAModule{Name: "Module2", Source: "Sub B()\r\nEnd Sub\r\n"})
		o, err := openOLE(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			panic(err)
		}
		at := func(name string) []byte {
			for i, e := range o.entries {
				if e.name == name {
					off := (int(le.Uint32(b[48:]))+1)*512 + 128*i // the builder's directory is contiguous
					return b[off : off+128]
				}
			}
			panic("no entry " + name)
		}
		damage(b, at)
		return b
	}
	return []hostileCase{
		{name: "intact doc", data: hostileDoc().b, format: "doc", objects: both, intact: true},
		{name: "FAT: a sector pointing at itself", data: doc(func(f *builtCFB) {
			f.setFAT(f.start[hdNative1], f.start[hdNative1])
		}), format: "doc", objects: both},
		{name: "FAT: the last sector pointing back at the first", data: doc(func(f *builtCFB) {
			f.setFAT(f.start[hdNative1]+11, f.start[hdNative1])
		}), format: "doc", objects: both, intact: true},
		{name: "FAT: a cycle and a size of 4 GiB", data: doc(func(f *builtCFB) {
			f.setFAT(f.start[hdNative1]+11, f.start[hdNative1])
			f.setEntry(hdNative1, 120, 0xfffffff0)
		}), format: "doc", objects: both},
		{name: "directory chain looping back", data: doc(func(f *builtCFB) {
			f.setFAT(uint32(f.dirStart+f.dirLen-1), uint32(f.dirStart))
		}), format: "doc", objects: both, intact: true},
		{name: "directory chain pointing at itself", data: doc(func(f *builtCFB) {
			f.setFAT(uint32(f.dirStart), uint32(f.dirStart))
		}), format: "doc", objects: nil}, // the objects' entries are in the lost second sector
		{name: "DIFAT sector pointing at itself", data: doc(func(f *builtCFB) {
			s := f.b[(int(f.spare)+1)*f.ss:][:f.ss]
			for i := 0; i < f.ss; i += 4 {
				le.PutUint32(s[i:], cfbFree)
			}
			le.PutUint32(s[f.ss-4:], f.spare)
			f.setHeader(68, f.spare)
			f.setHeader(72, 1000)
		}), format: "doc", objects: both, intact: true},
		{name: "DIFAT sectors pointing at each other", data: doc(func(f *builtCFB) {
			for k := range uint32(2) {
				s := f.b[(int(f.spare+k)+1)*f.ss:][:f.ss]
				for i := 0; i < f.ss; i += 4 {
					le.PutUint32(s[i:], cfbFree)
				}
				le.PutUint32(s[f.ss-4:], f.spare+1-k)
			}
			f.setHeader(68, f.spare)
			f.setHeader(72, 2)
		}), format: "doc", objects: both, intact: true},
		{name: "sibling link back to the top of the tree", data: doc(func(f *builtCFB) {
			f.setEntry(hdObjectPool, 72, hdTable) // 1Table is the root's child
		}), format: "doc", objects: both, intact: true},
		{name: "child link back to an ancestor", data: doc(func(f *builtCFB) {
			f.setEntry(hdObject2, 76, hdObjectPool) // _2's stream is lost
			f.setEntry(hdNative1, 72, 0)            // and a sibling link to the root
		}), format: "doc", objects: []string{"one.exe"}, intact: true},
		{name: "one sibling link out of range", data: doc(func(f *builtCFB) {
			f.setEntry(hdWordDocument, 72, 0x00123456)
		}), format: "doc", objects: both, intact: true},
		{name: "stream size beyond the file", data: doc(func(f *builtCFB) {
			f.setEntry(hdNative1, 120, 0x7ffffff0)
		}), format: "doc", objects: both, intact: true},
		{name: "mini stream cutoff 0", data: doc(func(f *builtCFB) {
			f.setHeader(56, 0)
		}), format: "doc", objects: both, intact: true},
		{name: "mini stream cutoff 4 GiB", data: doc(func(f *builtCFB) {
			f.setHeader(56, 0xffffffff)
		}), format: "doc", objects: both, intact: true},
		{name: "mini stream chain pointing at itself", data: doc(func(f *builtCFB) {
			f.setFAT(f.start[0], f.start[0])
		}), format: "doc", objects: []string{"one.exe"}, intact: true}, // two.txt is past the mini stream's first sector
		{name: "mini FAT cycle", data: doc(func(f *builtCFB) {
			// the last mini sector of the second object back to its first
			s := f.start[hdNative2] + 4
			mf := f.b[(int(le.Uint32(f.b[60:]))+1)*f.ss:]
			le.PutUint32(mf[4*s:], f.start[hdNative2])
		}), format: "doc", objects: both},
		{name: "mini sector beyond the mini stream", data: doc(func(f *builtCFB) {
			f.setEntry(hdNative2, 116, 0x00ffffff)
		}), format: "doc", objects: []string{"one.exe"}, intact: true},
		{name: "intact VBA project", data: vba(func([]byte, func(string) []byte) {}),
			format: "ole", modules: []string{"Module1", "Module2"}},
		{name: "VBA: one sibling link out of range", data: vba(func(b []byte, at func(string) []byte) {
			le.PutUint32(at("Module2")[68:], 0x00123456)
		}), format: "ole", modules: []string{"Module1", "Module2"}},
		{name: "VBA: a sibling cycle", data: vba(func(b []byte, at func(string) []byte) {
			le.PutUint32(at("_VBA_PROJECT")[72:], le.Uint32(at("VBA")[76:])) // back to VBA's first child
		}), format: "ole", modules: []string{"Module1", "Module2"}},
		{name: "VBA: mini stream chain pointing at itself", data: vba(func(b []byte, at func(string) []byte) {
			root := at("Root Entry")
			s := le.Uint32(root[116:])
			le.PutUint32(b[512+4*s:], s)
		}), format: "ole"},
	}
}

// TestOLEHostile reads damaged compound files with ReadOLE, ReadEmbedded
// and ReadVBA: each must finish, stay within its limits and the file's
// size, and still return what the damage left readable.
func TestOLEHostile(t *testing.T) {
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			tc.Within(t, 10*time.Second, func() { checkHostile(t, c) })
		})
	}
}

func checkHostile(t *testing.T, c hostileCase) {
	src, size := bytes.NewReader(c.data), int64(len(c.data))
	info, _ := ReadOLE(src, size)
	require.NotNil(t, info)
	assert.Equal(t, c.format, info.Format)

	o, _ := openOLE(src, size)
	require.NotNil(t, o)
	assert.LessOrEqual(t, len(o.entries), maxDirEntries)
	assert.LessOrEqual(t, len(o.difat), int(o.nsect/(o.ss/4))+2+109, "DIFAT entries")
	for _, s := range o.streams() {
		b, _ := o.stream(s.index, 1<<30)
		assert.LessOrEqual(t, int64(len(b)), size, "stream %s", s.path)
	}

	lim := EmbeddedLimits{MaxObjectBytes: 1 << 20}
	var labels []string
	var got []Embedded
	_ = ReadEmbedded(src, size, lim, func(e Embedded) error {
		labels = append(labels, e.Name)
		got = append(got, e)
		assert.LessOrEqual(t, int64(len(e.Data)), min(lim.MaxObjectBytes, size))
		return nil
	})
	assert.ElementsMatch(t, c.objects, labels) // the tree walk's order is not the names' order
	if c.intact {
		for _, e := range got {
			want := map[string][]byte{"one.exe": hostilePayload1, "two.txt": hostilePayload2}[e.Name]
			assert.True(t, bytes.Equal(want, e.Data), "payload of %q: %d bytes, want %d", e.Name, len(e.Data), len(want))
		}
	}

	mods, _ := ReadVBA(src, size, VBALimits{})
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
		assert.LessOrEqual(t, len(m.Source), 4<<20)
	}
	assert.Equal(t, c.modules, names)
}

// TestOLEHugeDirectory reads a directory of more entries than maxDirEntries:
// the reader keeps maxDirEntries of them, says why it stopped, and still
// tells the format.
func TestOLEHugeDirectory(t *testing.T) {
	b := hugeDirectory(maxDirEntries + 4096)
	o, err := openOLE(bytes.NewReader(b), int64(len(b)))
	require.Error(t, err)
	assert.Len(t, o.entries, maxDirEntries)
	info, err := ReadOLE(bytes.NewReader(b), int64(len(b)))
	require.Error(t, err)
	require.NotNil(t, info)
	assert.Equal(t, "doc", info.Format)
}

// TestOLEMiniChainCycle reads a stream past a cycle in the mini stream's
// chain twice: both reads fail, the second one too (the chain is not read
// again from what the first one left).
func TestOLEMiniChainCycle(t *testing.T) {
	f := hostileDoc()
	f.setFAT(f.start[0], f.start[0])
	o, err := openOLE(bytes.NewReader(f.b), int64(len(f.b)))
	require.NoError(t, err)
	for range 2 {
		b, err := o.stream(hdNative2, 1<<20)
		assert.Error(t, err)
		assert.Empty(t, b)
	}
	b, err := o.stream(hdTable, 1<<20)
	assert.Error(t, err, "1Table is past the first sector too")
	assert.Len(t, b, 512, "what the first sector holds of it")
}

// vbaDir is a compressed dir stream naming one module, stream, with its
// source at offset 0.
func vbaDir(stream string) []byte {
	le := binary.LittleEndian
	rec := func(b []byte, id uint16, data []byte) []byte {
		b = le.AppendUint16(b, id)
		b = le.AppendUint32(b, uint32(len(data)))
		return append(b, data...)
	}
	var d []byte
	d = rec(d, dirModuleName, []byte(stream))
	d = rec(d, dirModuleStream, []byte(stream))
	d = rec(d, dirModuleOffset, le.AppendUint32(nil, 0))
	d = rec(d, dirModuleEnd, nil)
	d = rec(d, dirTerminator, nil)
	return samples.OVBACompress(d)
}

// storagesSharingDir is a compound file of n VBA storages whose child is
// the same dir stream.
func storagesSharingDir(n int, dir []byte) []byte {
	es := []hEntry{entry("Root Entry", 5, nil), entry("dir", 2, dir)}
	var kids []uint32
	for i := range n {
		e := entry("VBA", 1, nil)
		e.child = 1
		es = append(es, e)
		kids = append(kids, uint32(i+2))
	}
	siblings(es, 0, kids...)
	return buildCFB(9, es, 0).b
}

// storagesSharingModule is a compound file of two VBA storages, each with
// its own dir stream, both naming the same Module1 entry.
func storagesSharingModule() []byte {
	es := []hEntry{entry("Root Entry", 5, nil), entry("Macros", 1, nil),
		entry("VBA", 1, nil), entry("dir", 2, vbaDir("Module1")),
		entry("VBA", 1, nil), entry("dir", 2, vbaDir("Module1")),
		entry("Module1", 2, samples.OVBACompress([]byte(samples.ShellMacroSource)))}
	siblings(es, 0, 1, 4)
	siblings(es, 1, 2)
	es[2].child, es[3].right = 3, 6
	es[4].child, es[5].right = 5, 6 // the same Module1 entry
	return buildCFB(9, es, 0).b
}

// TestReadVBAStorages reads directories that name many VBA storages
// sharing streams: each storage counts against MaxModules and each stream
// is read once.
func TestReadVBAStorages(t *testing.T) {
	t.Run("thousands of storages sharing a dir stream that inflates to a megabyte", func(t *testing.T) {
		b := storagesSharingDir(300, samples.OVBACompress(make([]byte, 1<<20-4096)))
		tc.Within(t, 10*time.Second, func() {
			mods, err := ReadVBA(bytes.NewReader(b), int64(len(b)), VBALimits{MaxModules: 8})
			assert.Empty(t, mods)
			assert.ErrorIs(t, err, ErrTooManyModules)
		})
	})
	t.Run("storages sharing a broken dir stream", func(t *testing.T) {
		b := storagesSharingDir(20, []byte("not compressed"))
		_, err := ReadVBA(bytes.NewReader(b), int64(len(b)), VBALimits{})
		require.Error(t, err)
		assert.Equal(t, 1, strings.Count(err.Error(), "dir stream"), "read once: %v", err)
	})
	t.Run("two storages naming one module stream", func(t *testing.T) {
		b := storagesSharingModule()
		mods, err := ReadVBA(bytes.NewReader(b), int64(len(b)), VBALimits{})
		require.NoError(t, err)
		require.Len(t, mods, 1)
		assert.Equal(t, samples.ShellMacroSource, string(mods[0].Source))
	})
}
