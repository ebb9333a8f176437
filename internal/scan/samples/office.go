package samples

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf16"
)

// MacroDocument is a macro-enabled Word document (.docm) whose VBA project
// runs a macro when the document opens (Sub AutoOpen and Document_Open).
// word/vbaProject.bin is an OLE compound file laid out as Office writes it:
// the module source MS-OVBA-compressed in VBA/ThisDocument, and the
// identifier table of VBA/_VBA_PROJECT naming the procedures in clear.
func MacroDocument() []byte {
	return docm(vbaProject("ThisDocument",
		"Attribute VB_Name = \"ThisDocument\"\r\n"+
			"Sub AutoOpen()\r\n    MsgBox \"IntelliDox test macro\"\r\nEnd Sub\r\n"+
			"Private Sub Document_Open()\r\n    AutoOpen\r\nEnd Sub\r\n",
		[]string{"ThisDocument", "AutoOpen", "Document_Open", "MsgBox"}))
}

// MacroDocumentManual is a macro-enabled document whose macro runs only
// when a user starts it: it has a VBA project but nothing auto-executes.
func MacroDocumentManual() []byte {
	return docm(vbaProject("ThisDocument",
		"Attribute VB_Name = \"ThisDocument\"\r\n"+
			"Sub FormatTables()\r\n    MsgBox \"IntelliDox test macro\"\r\nEnd Sub\r\n",
		[]string{"ThisDocument", "FormatTables", "MsgBox"}))
}

// Document is an ordinary .docx without macros.
func Document() []byte {
	return zipOf(map[string][]byte{
		"[Content_Types].xml": []byte(contentTypes("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", false)),
		"_rels/.rels":         []byte(rootRels),
		"word/document.xml":   []byte(documentXML),
	})
}

func docm(vba []byte) []byte {
	return zipOf(map[string][]byte{
		"[Content_Types].xml":          []byte(contentTypes("application/vnd.ms-word.document.macroEnabled.main+xml", true)),
		"_rels/.rels":                  []byte(rootRels),
		"word/document.xml":            []byte(documentXML),
		"word/_rels/document.xml.rels": []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" + `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>`),
		"word/vbaProject.bin":          vba,
	})
}

func contentTypes(main string, vba bool) string {
	extra := ""
	if vba {
		extra = `<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>`
	}
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>` + extra +
		`<Override PartName="/word/document.xml" ContentType="` + main + `"/></Types>`
}

const rootRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
	`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`

const documentXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
	`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>IntelliDox sample document.</w:t></w:r></w:p></w:body></w:document>`

// vbaProject builds vbaProject.bin: an OLE compound file with the storage
// VBA (streams _VBA_PROJECT, dir and the module) and the PROJECT stream.
func vbaProject(module, source string, identifiers []string) []byte {
	// _VBA_PROJECT: reserved 0x61CC, version, reserved, then (as Office's
	// performance cache does) the project's identifiers in clear.
	var vp bytes.Buffer
	vp.Write([]byte{0xCC, 0x61, 0xFF, 0xFF, 0x00})
	for _, id := range identifiers {
		_ = binary.Write(&vp, binary.LittleEndian, uint16(len(id)))
		vp.WriteString(id)
	}
	dir := ovbaCompress([]byte("\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00" + // PROJECTSYSKIND: win32
		"\x19\x00" + string([]byte{byte(len(module)), 0, 0, 0}) + module)) // MODULENAME
	project := "ID=\"{00000000-0000-0000-0000-000000000000}\"\r\nDocument=" + module + "/&H00000000\r\nName=\"Project\"\r\n"
	return cfb([]cfbEntry{
		{name: "VBA", storage: true},
		{name: "_VBA_PROJECT", parent: "VBA", data: vp.Bytes()},
		{name: "dir", parent: "VBA", data: dir},
		{name: module, parent: "VBA", data: ovbaCompress([]byte(source))},
		{name: "PROJECT", data: []byte(project)},
	})
}

// ovbaCompress writes an MS-OVBA compressed container using literal tokens
// only, which the format allows: a flag byte before every eight bytes. It
// is why words in compressed VBA source are not reliably contiguous.
func ovbaCompress(src []byte) []byte {
	out := []byte{0x01}
	for len(src) > 0 {
		n := min(len(src), 4096)
		chunk := src[:n]
		src = src[n:]
		var body []byte
		for i := 0; i < len(chunk); i += 8 {
			body = append(body, 0x00)
			body = append(body, chunk[i:min(i+8, len(chunk))]...)
		}
		hdr := uint16(len(body)+2-3) | 0b011<<12 | 1<<15
		out = binary.LittleEndian.AppendUint16(out, hdr)
		out = append(out, body...)
	}
	return out
}

// OVBACompress writes an MS-OVBA compressed container as Office does, with
// copy tokens for repeated runs, so that repeated words (and often whole
// identifiers) are not in the output at all. A chunk that does not shrink
// is written raw when it is a full 4096 bytes; OVBACompress panics on a
// short final chunk that would not fit compressed (test data is text).
func OVBACompress(src []byte) []byte {
	out := []byte{0x01}
	for len(src) > 0 {
		n := min(len(src), 4096)
		chunk := src[:n]
		src = src[n:]
		body := ovbaTokens(chunk)
		if len(body) > 4096 {
			if n < 4096 {
				panic("samples: incompressible short MS-OVBA chunk")
			}
			out = binary.LittleEndian.AppendUint16(out, 4095|0b011<<12)
			out = append(out, chunk...)
			continue
		}
		out = binary.LittleEndian.AppendUint16(out, uint16(len(body)+2-3)|0b011<<12|1<<15)
		out = append(out, body...)
	}
	return out
}

// ovbaTokens compresses one chunk greedily: at each position the longest
// earlier match of at least three bytes becomes a copy token.
func ovbaTokens(chunk []byte) []byte {
	var body []byte
	for d := 0; d < len(chunk); {
		flagAt := len(body)
		body = append(body, 0)
		for bit := 0; bit < 8 && d < len(chunk); bit++ {
			bitCount := 4
			if d > 1 {
				bitCount = max(bits.Len(uint(d-1)), 4)
			}
			maxLen := int(0xffff>>bitCount) + 3
			bestLen, bestOff := 0, 0
			for from := max(0, d-(1<<bitCount)); from < d; from++ {
				l := 0
				for l < maxLen && d+l < len(chunk) && chunk[from+l] == chunk[d+l] {
					l++
				}
				if l > bestLen {
					bestLen, bestOff = l, d-from
				}
			}
			if bestLen < 3 {
				body = append(body, chunk[d])
				d++
				continue
			}
			body[flagAt] |= 1 << bit
			tok := uint16(bestOff-1)<<(16-bitCount) | uint16(bestLen-3)
			body = binary.LittleEndian.AppendUint16(body, tok)
			d += bestLen
		}
	}
	return body
}

type cfbEntry struct {
	name    string
	parent  string // "" for the root storage
	storage bool
	data    []byte
}

const (
	cfbSector   = 512
	cfbMini     = 64
	cfbFree     = 0xFFFFFFFF
	cfbEnd      = 0xFFFFFFFE
	cfbFATSect  = 0xFFFFFFFD
	cfbNoStream = 0xFFFFFFFF
)

// cfb writes a version 3 compound file. Streams under the 4096-byte cutoff
// live in the mini stream, larger ones in regular sectors, as the format
// requires; the whole file must fit one FAT sector (64 KiB).
func cfb(entries []cfbEntry) []byte {
	// Directory: root at 0, then entries in order.
	type dirent struct {
		name               string
		typ                byte
		left, right, child uint32
		start              uint32
		size               uint32
	}
	dirs := []dirent{{name: "Root Entry", typ: 5, left: cfbNoStream, right: cfbNoStream, child: cfbNoStream}}
	index := map[string]uint32{"": 0}
	children := map[string][]uint32{} // by parent name, indices in dirs
	var mini []byte
	var miniFAT []uint32
	var big []int // indices in dirs of streams in regular sectors
	for _, e := range entries {
		d := dirent{name: e.name, typ: 2, left: cfbNoStream, right: cfbNoStream, child: cfbNoStream, start: cfbEnd}
		if e.storage {
			d.typ = 1
			d.start = 0
		} else if len(e.data) >= 4096 {
			d.size = uint32(len(e.data))
			big = append(big, len(dirs))
		} else if len(e.data) > 0 {
			d.start, d.size = uint32(len(mini)/cfbMini), uint32(len(e.data))
			sectors := (len(e.data) + cfbMini - 1) / cfbMini
			for i := range sectors {
				next := uint32(cfbEnd)
				if i < sectors-1 {
					next = uint32(len(miniFAT) + 1)
				}
				miniFAT = append(miniFAT, next)
			}
			mini = append(mini, e.data...)
			mini = append(mini, make([]byte, sectors*cfbMini-len(e.data))...)
		}
		if e.storage {
			index[e.name] = uint32(len(dirs))
		}
		children[e.parent] = append(children[e.parent], uint32(len(dirs)))
		dirs = append(dirs, d)
	}
	// Siblings hang off their parent's child as a chain of right siblings,
	// in the order the format sorts names: by length, then upper-cased.
	for parent, kids := range children {
		slices.SortFunc(kids, func(i, j uint32) int {
			a, b := dirs[i].name, dirs[j].name
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(strings.ToUpper(a), strings.ToUpper(b))
		})
		dirs[index[parent]].child = kids[0]
		for i := 1; i < len(kids); i++ {
			dirs[kids[i-1]].right = kids[i]
		}
	}
	dirs[0].size = uint32(len(mini))

	// Sector layout: FAT, directory, mini FAT, mini stream.
	dirSectors := (len(dirs)*128 + cfbSector - 1) / cfbSector
	miniFATSectors := (len(miniFAT)*4 + cfbSector - 1) / cfbSector
	miniSectors := (len(mini) + cfbSector - 1) / cfbSector
	total := 1 + dirSectors + miniFATSectors + miniSectors
	bigStart := total
	for _, i := range big {
		total += (int(dirs[i].size) + cfbSector - 1) / cfbSector
	}
	if total > cfbSector/4 {
		panic("samples: cfb needs more than one FAT sector")
	}
	fat := make([]uint32, cfbSector/4)
	for i := range fat {
		fat[i] = cfbFree
	}
	fat[0] = cfbFATSect
	chain := func(first, n int) {
		for i := range n {
			if i == n-1 {
				fat[first+i] = cfbEnd
			} else {
				fat[first+i] = uint32(first + i + 1)
			}
		}
	}
	dirStart, miniFATStart, miniStart := 1, 1+dirSectors, 1+dirSectors+miniFATSectors
	chain(dirStart, dirSectors)
	chain(miniFATStart, miniFATSectors)
	chain(miniStart, miniSectors)
	next := bigStart
	for _, i := range big {
		n := (int(dirs[i].size) + cfbSector - 1) / cfbSector
		dirs[i].start = uint32(next)
		chain(next, n)
		next += n
	}
	dirs[0].start = uint32(miniStart)
	if len(mini) == 0 {
		dirs[0].start = cfbEnd
	}

	le := binary.LittleEndian
	hdr := make([]byte, cfbSector)
	copy(hdr, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
	le.PutUint16(hdr[24:], 0x003E)
	le.PutUint16(hdr[26:], 3)
	le.PutUint16(hdr[28:], 0xFFFE)
	le.PutUint16(hdr[30:], 9)
	le.PutUint16(hdr[32:], 6)
	le.PutUint32(hdr[44:], 1)
	le.PutUint32(hdr[48:], uint32(dirStart))
	le.PutUint32(hdr[56:], 4096)
	le.PutUint32(hdr[60:], uint32(miniFATStart))
	le.PutUint32(hdr[64:], uint32(miniFATSectors))
	le.PutUint32(hdr[68:], cfbEnd)
	for i := range 109 {
		le.PutUint32(hdr[76+4*i:], cfbFree)
	}
	le.PutUint32(hdr[76:], 0)

	out := bytes.NewBuffer(hdr)
	for _, v := range fat {
		_ = binary.Write(out, le, v)
	}
	dirBytes := make([]byte, dirSectors*cfbSector)
	for i := len(dirs) * 128; i < len(dirBytes); i += 128 {
		// Unused entries: no siblings, no child.
		le.PutUint32(dirBytes[i+68:], cfbNoStream)
		le.PutUint32(dirBytes[i+72:], cfbNoStream)
		le.PutUint32(dirBytes[i+76:], cfbNoStream)
	}
	for i, d := range dirs {
		e := dirBytes[i*128 : (i+1)*128]
		name := utf16.Encode([]rune(d.name))
		for j, c := range name {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[64:], uint16(2*(len(name)+1)))
		e[66], e[67] = d.typ, 1
		le.PutUint32(e[68:], d.left)
		le.PutUint32(e[72:], d.right)
		le.PutUint32(e[76:], d.child)
		le.PutUint32(e[116:], d.start)
		le.PutUint32(e[120:], d.size)
	}
	out.Write(dirBytes)
	mf := make([]byte, miniFATSectors*cfbSector)
	for i := range len(mf) / 4 {
		v := uint32(cfbFree)
		if i < len(miniFAT) {
			v = miniFAT[i]
		}
		le.PutUint32(mf[4*i:], v)
	}
	out.Write(mf)
	out.Write(mini)
	out.Write(make([]byte, miniSectors*cfbSector-len(mini)))
	for _, e := range entries {
		if !e.storage && len(e.data) >= 4096 {
			out.Write(e.data)
			out.Write(make([]byte, (cfbSector-len(e.data)%cfbSector)%cfbSector))
		}
	}
	return out.Bytes()
}

// VBAModule is one module of a VBA project built by VBAProject.
type VBAModule struct {
	Name   string
	Source string
}

// MacroDocumentShell is a macro-enabled Word document whose AutoOpen
// macro starts a program through Shell and WScript.Shell. Unlike
// MacroDocument it leaves no names in clear: _VBA_PROJECT holds only its
// header (no identifier cache, as a project saved by another tool), and the
// module source is compressed with copy tokens, so only a rule reading the
// decompressed source can tell what it does.
func MacroDocumentShell() []byte {
	return MacroDocumentWith(VBAModule{Name: "Module1", Source: ShellMacroSource})
}

// MacroDocumentWith is a macro-enabled Word document whose vbaProject.bin
// is VBAProject(modules...).
func MacroDocumentWith(modules ...VBAModule) []byte { return docm(VBAProject(modules...)) }

// ShellMacroSource is the module source of MacroDocumentShell.
const ShellMacroSource = "Attribute VB_Name = \"Module1\"\r\n" +
	"Sub AutoOpen()\r\n" +
	"    Dim o As Object\r\n" +
	"    Set o = CreateObject(\"WScript.Shell\")\r\n" +
	"    o.Run \"calc.exe\", 0\r\n" +
	"    Shell \"cmd.exe /c echo IntelliDox test\", vbHide\r\n" +
	"End Sub\r\n"

// VBAProject builds a vbaProject.bin (an OLE compound file) holding modules
// as Office lays them out: in the storage VBA, a dir stream (compressed)
// naming each module's stream and the offset of its source, and each
// module stream made of a stand-in performance cache followed by the
// compressed source. _VBA_PROJECT holds its header only.
func VBAProject(modules ...VBAModule) []byte {
	le := binary.LittleEndian
	rec := func(b []byte, id uint16, data []byte) []byte {
		b = le.AppendUint16(b, id)
		b = le.AppendUint32(b, uint32(len(data)))
		return append(b, data...)
	}
	var dir []byte
	dir = rec(dir, 0x0001, le.AppendUint32(nil, 1)) // PROJECTSYSKIND: win32
	// PROJECTVERSION: its size field says 4, and 6 bytes follow.
	dir = append(dir, 0x09, 0x00, 0x04, 0x00, 0x00, 0x00, 0xB5, 0x99, 0x00, 0x00, 0x06, 0x00)
	dir = rec(dir, 0x000F, le.AppendUint16(nil, uint16(len(modules)))) // PROJECTMODULES
	dir = rec(dir, 0x0013, le.AppendUint16(nil, 0xFFFF))               // PROJECTCOOKIE
	entries := []cfbEntry{{name: "VBA", storage: true},
		{name: "_VBA_PROJECT", parent: "VBA", data: []byte{0xCC, 0x61, 0xFF, 0xFF, 0x00, 0x03, 0x00}}}
	project := "ID=\"{00000000-0000-0000-0000-000000000000}\"\r\n"
	for i, m := range modules {
		cache := bytes.Repeat([]byte{0xCA, 0x01, byte(i)}, 40) // stands in for compiled p-code
		dir = rec(dir, 0x0019, []byte(m.Name))                 // MODULENAME
		dir = rec(dir, 0x001A, []byte(m.Name))                 // MODULESTREAMNAME
		dir = rec(dir, 0x0032, utf16le(m.Name))
		dir = rec(dir, 0x0031, le.AppendUint32(nil, uint32(len(cache)))) // MODULEOFFSET
		dir = rec(dir, 0x0021, nil)                                      // MODULETYPE: procedural
		dir = rec(dir, 0x002B, nil)                                      // module terminator
		entries = append(entries, cfbEntry{name: m.Name, parent: "VBA",
			data: append(cache, OVBACompress([]byte(m.Source))...)})
		project += "Module=" + m.Name + "\r\n"
	}
	dir = rec(dir, 0x0010, nil) // dir terminator
	entries = append(entries, cfbEntry{name: "dir", parent: "VBA", data: OVBACompress(dir)},
		cfbEntry{name: "PROJECT", data: []byte(project + "Name=\"Project\"\r\n")})
	return cfb(entries)
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}
