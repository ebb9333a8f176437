package testcorpus

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// OOXMLOptions choose what a generated Office Open XML document holds.
type OOXMLOptions struct {
	Kind           string // "docx" (default), "xlsx" or "pptx"
	Title          string
	Creator        string
	LastModifiedBy string
	Created        string // W3CDTF, e.g. "2024-05-17T10:30:00Z"
	Modified       string
	Application    string // docProps/app.xml; empty for none
	VBAProject     bool   // add a vbaProject.bin part
	MacroEnabled   bool   // declare the macro-enabled main content type (docm, xlsm, pptm)
}

// OOXML returns a minimal OOXML package built to o.
func OOXML(o OOXMLOptions) []byte {
	type kind struct{ dir, main, mainMacro, part, body string }
	kinds := map[string]kind{
		"docx": {"word", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
			"application/vnd.ms-word.document.macroEnabled.main+xml", "document.xml",
			`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p></w:body></w:document>`},
		"xlsx": {"xl", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
			"application/vnd.ms-excel.sheet.macroEnabled.main+xml", "workbook.xml",
			`<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>`},
		"pptx": {"ppt", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
			"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml", "presentation.xml",
			`<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>`},
	}
	if o.Kind == "" {
		o.Kind = "docx"
	}
	k := kinds[o.Kind]
	main := k.main
	if o.MacroEnabled {
		main = k.mainMacro
	}
	ct := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>`
	if o.VBAProject {
		ct += `<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>`
	}
	ct += fmt.Sprintf(`<Override PartName="/%s/%s" ContentType="%s"/>`, k.dir, k.part, main) +
		`<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>` +
		`<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>`
	rels := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
		fmt.Sprintf(`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="%s/%s"/>`, k.dir, k.part) +
		`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>` +
		`<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/></Relationships>`
	core := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`
	if o.Title != "" {
		core += "<dc:title>" + xmlEscape(o.Title) + "</dc:title>"
	}
	if o.Creator != "" {
		core += "<dc:creator>" + xmlEscape(o.Creator) + "</dc:creator>"
	}
	if o.LastModifiedBy != "" {
		core += "<cp:lastModifiedBy>" + xmlEscape(o.LastModifiedBy) + "</cp:lastModifiedBy>"
	}
	if o.Created != "" {
		core += `<dcterms:created xsi:type="dcterms:W3CDTF">` + o.Created + "</dcterms:created>"
	}
	if o.Modified != "" {
		core += `<dcterms:modified xsi:type="dcterms:W3CDTF">` + o.Modified + "</dcterms:modified>"
	}
	core += "</cp:coreProperties>"
	files := []File{
		{Name: "[Content_Types].xml", Body: []byte(ct)},
		{Name: "_rels/.rels", Body: []byte(rels)},
		{Name: k.dir + "/" + k.part, Body: []byte(k.body)},
		{Name: "docProps/core.xml", Body: []byte(core)},
	}
	if o.Application != "" {
		files = append(files, File{Name: "docProps/app.xml", Body: []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Application>` + xmlEscape(o.Application) + `</Application><AppVersion>16.0000</AppVersion></Properties>`)})
	}
	if o.VBAProject {
		files = append(files, File{Name: k.dir + "/vbaProject.bin", Body: OLE("VBA", "dir", "_VBA_PROJECT")})
	}
	return Zip(files...)
}

func xmlEscape(s string) string {
	out := []rune{}
	for _, r := range s {
		switch r {
		case '<':
			out = append(out, []rune("&lt;")...)
		case '>':
			out = append(out, []rune("&gt;")...)
		case '&':
			out = append(out, []rune("&amp;")...)
		default:
			out = append(out, r)
		}
	}
	return string(out)
}

// OLE returns a Compound File Binary (version 3) whose root holds the
// given entries, each a storage if its name is a known storage name
// ("Macros", "VBA", "_VBA_PROJECT_CUR", "ObjectPool") and a stream
// otherwise. The entries chain as right siblings, a degenerate but valid
// directory tree. A stream named "WordDocument", "Workbook" or
// "PowerPoint Document" gets 4 KiB of data in the regular FAT.
func OLE(names ...string) []byte {
	const (
		sector     = 512
		free       = 0xffffffff
		endOfChain = 0xfffffffe
		fatSect    = 0xfffffffd
		noStream   = 0xffffffff
	)
	storages := map[string]bool{"Macros": true, "VBA": true, "_VBA_PROJECT_CUR": true, "ObjectPool": true}
	big := map[string]bool{"WordDocument": true, "Workbook": true, "PowerPoint Document": true}
	type entry struct {
		name         string
		typ          byte
		right, child uint32
		start        uint32
		size         uint32
	}
	entries := []entry{{name: "Root Entry", typ: 5, right: noStream, child: noStream, start: endOfChain}}
	for i, n := range names {
		e := entry{name: n, typ: 2, right: noStream, child: noStream, start: endOfChain}
		if storages[n] {
			e.typ = 1
		}
		if i+2 <= len(names) {
			e.right = uint32(i + 2)
		}
		entries = append(entries, e)
	}
	if len(names) > 0 {
		entries[0].child = 1
	}
	dirSectors := (len(entries) + 3) / 4
	next := uint32(1 + dirSectors) // sector 0 is the FAT
	var data []byte
	for i := range entries {
		if entries[i].typ == 2 && big[entries[i].name] {
			entries[i].start, entries[i].size = next, 4096
			next += 4096 / sector
			data = append(data, make([]byte, 4096)...)
		} else if entries[i].typ == 2 {
			entries[i].start, entries[i].size = endOfChain, 0
		}
	}
	fat := make([]uint32, sector/4)
	for i := range fat {
		fat[i] = free
	}
	fat[0] = fatSect
	for s := 1; s <= dirSectors; s++ {
		fat[s] = uint32(s + 1)
		if s == dirSectors {
			fat[s] = endOfChain
		}
	}
	for _, e := range entries {
		if e.size == 0 {
			continue
		}
		n := e.size / sector
		for k := range n {
			s := e.start + k
			fat[s] = s + 1
			if k == n-1 {
				fat[s] = endOfChain
			}
		}
	}
	le := binary.LittleEndian
	hdr := make([]byte, 512)
	copy(hdr, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
	le.PutUint16(hdr[24:], 0x3e)
	le.PutUint16(hdr[26:], 3)
	le.PutUint16(hdr[28:], 0xfffe)
	le.PutUint16(hdr[30:], 9)
	le.PutUint16(hdr[32:], 6)
	le.PutUint32(hdr[44:], 1)
	le.PutUint32(hdr[48:], 1)
	le.PutUint32(hdr[56:], 4096)
	le.PutUint32(hdr[60:], endOfChain)
	le.PutUint32(hdr[68:], endOfChain)
	for i := range 109 {
		le.PutUint32(hdr[76+4*i:], free)
	}
	le.PutUint32(hdr[76:], 0)
	out := hdr
	for _, v := range fat {
		out = le.AppendUint32(out, v)
	}
	dir := make([]byte, dirSectors*sector)
	for i := range dirSectors * 4 {
		d := dir[128*i : 128*(i+1)]
		le.PutUint32(d[68:], noStream)
		le.PutUint32(d[72:], noStream)
		le.PutUint32(d[76:], noStream)
		if i >= len(entries) {
			continue
		}
		e := entries[i]
		u := utf16.Encode([]rune(e.name))
		for j, c := range u {
			le.PutUint16(d[2*j:], c)
		}
		le.PutUint16(d[64:], uint16(2*(len(u)+1)))
		d[66], d[67] = e.typ, 1
		le.PutUint32(d[72:], e.right)
		le.PutUint32(d[76:], e.child)
		le.PutUint32(d[116:], e.start)
		le.PutUint32(d[120:], e.size)
	}
	out = append(out, dir...)
	return append(out, data...)
}
