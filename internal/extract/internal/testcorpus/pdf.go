package testcorpus

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// PDFOptions choose what a generated PDF holds.
type PDFOptions struct {
	Version      string // header version, default "1.7"
	Pages        int    // default 1
	Title        string
	UTF16Title   bool // write the title as UTF-16BE with a byte-order mark
	Author       string
	Producer     string
	CreationDate string // as written, e.g. "D:20240517103000+02'00'"
	JavaScript   bool   // a document-level JavaScript action in the /Names tree
	OpenAction   bool   // an /OpenAction on the catalog (running the JavaScript if any)
	EmbeddedFile bool   // an /EmbeddedFiles name tree with one file
	Form         bool   // an /AcroForm with one text field
	Encrypted    bool   // an /Encrypt dictionary in the trailer (strings are left plain)
	ObjectStream bool   // put the dictionaries in a compressed object stream (PDF 1.5+), with an xref stream
	EscapeNames  bool   // spell names with #xx escapes: /J#61vaScript
}

// PDF returns a PDF document built to o. It is well formed: the
// cross-reference offsets are right, so other readers accept it too.
func PDF(o PDFOptions) []byte {
	if o.Version == "" {
		o.Version = "1.7"
	}
	if o.Pages == 0 {
		o.Pages = 1
	}
	n := func(s string) string { // a name, escaped if asked
		if !o.EscapeNames {
			return "/" + s
		}
		var b strings.Builder
		b.WriteByte('/')
		for i, c := range s {
			if i%2 == 1 {
				fmt.Fprintf(&b, "#%02X", c)
			} else {
				b.WriteRune(c)
			}
		}
		return b.String()
	}
	type obj struct {
		num    int
		body   string
		stream []byte // for stream objects, which never go in an object stream
	}
	var objs []obj
	next := 1
	add := func(body string) int {
		objs = append(objs, obj{num: next, body: body})
		next++
		return next - 1
	}
	addStream := func(dict string, data []byte) int {
		objs = append(objs, obj{num: next, body: dict, stream: data})
		next++
		return next - 1
	}
	catalog := add("") // filled in below
	pages := add("")
	var kids []string
	for i := range o.Pages {
		content := addStream("<< /Length %d >>", fmt.Appendf(nil, "BT /F1 12 Tf 72 720 Td (Page %d) Tj ET", i+1))
		kids = append(kids, fmt.Sprintf("%d 0 R", add(fmt.Sprintf("<< %s %s /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>",
			n("Type"), n("Page"), pages, content))))
	}
	objs[pages-1].body = fmt.Sprintf("<< %s %s /Kids [%s] /Count %d >>", n("Type"), n("Pages"), strings.Join(kids, " "), o.Pages)

	cat := fmt.Sprintf("%s %s /Pages %d 0 R", n("Type"), n("Catalog"), pages)
	var names []string
	js := 0
	if o.JavaScript {
		js = add(fmt.Sprintf("<< %s %s %s (app.alert\\(\"hi\"\\);) >>", n("S"), n("JavaScript"), n("JS")))
		names = append(names, fmt.Sprintf("%s << /Names [(init) %d 0 R] >>", n("JavaScript"), js))
	}
	if o.OpenAction {
		if js != 0 {
			cat += fmt.Sprintf(" %s %d 0 R", n("OpenAction"), js)
		} else {
			cat += fmt.Sprintf(" %s [%s 0 R /Fit]", n("OpenAction"), kids[0][:len(kids[0])-4])
		}
	}
	if o.EmbeddedFile {
		ef := addStream(fmt.Sprintf("<< /Type %s /Length %%d >>", n("EmbeddedFile")), []byte("attached payload\n"))
		spec := add(fmt.Sprintf("<< /Type /Filespec /F (payload.txt) %s << /F %d 0 R >> >>", n("EF"), ef))
		names = append(names, fmt.Sprintf("%s << /Names [(payload.txt) %d 0 R] >>", n("EmbeddedFiles"), spec))
	}
	if len(names) > 0 {
		cat += " /Names << " + strings.Join(names, " ") + " >>"
	}
	if o.Form {
		field := add(fmt.Sprintf("<< %s /Tx /T (name) /Rect [72 600 300 620] /P %s >>", n("FT"), kids[0]))
		cat += fmt.Sprintf(" %s << /Fields [%d 0 R] >>", n("AcroForm"), field)
	}
	objs[catalog-1].body = "<< " + cat + " >>"

	var infoParts []string
	if o.Title != "" {
		if o.UTF16Title {
			u := utf16.Encode([]rune(o.Title))
			b := []byte{0xfe, 0xff}
			for _, c := range u {
				b = binary.BigEndian.AppendUint16(b, c)
			}
			infoParts = append(infoParts, fmt.Sprintf("/Title <%X>", b))
		} else {
			infoParts = append(infoParts, "/Title ("+pdfEscape(o.Title)+")")
		}
	}
	if o.Author != "" {
		infoParts = append(infoParts, "/Author ("+pdfEscape(o.Author)+")")
	}
	if o.Producer != "" {
		infoParts = append(infoParts, "/Producer ("+pdfEscape(o.Producer)+")")
	}
	if o.CreationDate != "" {
		infoParts = append(infoParts, "/CreationDate ("+o.CreationDate+")")
	}
	info := 0
	if len(infoParts) > 0 {
		info = add("<< " + strings.Join(infoParts, " ") + " >>")
	}
	encrypt := 0
	if o.Encrypted {
		encrypt = add("<< /Filter /Standard /V 1 /R 2 /O <" + strings.Repeat("ab", 32) + "> /U <" + strings.Repeat("cd", 32) + "> /P -3904 >>")
	}

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n", o.Version)
	offsets := map[int]int{}
	inStream := map[int][2]int{} // object → (object stream, index)
	writeObj := func(num int, body string, data []byte) {
		offsets[num] = buf.Len()
		if data != nil {
			body = strings.Replace(body, "%d", fmt.Sprint(len(data)), 1)
			fmt.Fprintf(&buf, "%d 0 obj\n%s\nstream\n%s\nendstream\nendobj\n", num, body, data)
			return
		}
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", num, body)
	}
	var packed []obj
	for _, ob := range objs {
		if o.ObjectStream && ob.stream == nil && ob.num != encrypt {
			packed = append(packed, ob)
			continue
		}
		writeObj(ob.num, ob.body, ob.stream)
	}
	size := next
	if o.ObjectStream {
		stm := next
		var hdr, body bytes.Buffer
		for i, ob := range packed {
			fmt.Fprintf(&hdr, "%d %d ", ob.num, body.Len())
			body.WriteString(ob.body + "\n")
			inStream[ob.num] = [2]int{stm, i}
		}
		first := hdr.Len()
		raw := append(hdr.Bytes(), body.Bytes()...)
		z := Zlib(raw)
		offsets[stm] = buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n", stm, len(packed), first, len(z))
		buf.Write(z)
		buf.WriteString("\nendstream\nendobj\n")
		xref := stm + 1
		size = xref + 1
		var rows []byte
		for i := range size {
			switch {
			case i == 0:
				rows = append(rows, 0, 0, 0, 0, 0, 0xff, 0xff)
			case inStream[i] != [2]int{}:
				rows = append(rows, 2)
				rows = binary.BigEndian.AppendUint32(rows, uint32(inStream[i][0]))
				rows = binary.BigEndian.AppendUint16(rows, uint16(inStream[i][1]))
			case i == xref:
				rows = append(rows, 1)
				rows = binary.BigEndian.AppendUint32(rows, uint32(buf.Len()))
				rows = append(rows, 0, 0)
			default:
				rows = append(rows, 1)
				rows = binary.BigEndian.AppendUint32(rows, uint32(offsets[i]))
				rows = append(rows, 0, 0)
			}
		}
		zr := Zlib(rows)
		start := buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root %d 0 R%s%s /Filter /FlateDecode /Length %d >>\nstream\n",
			xref, size, catalog, refIf(" /Info", info), refIf(" /Encrypt", encrypt), len(zr))
		buf.Write(zr)
		fmt.Fprintf(&buf, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", start)
		return buf.Bytes()
	}
	start := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f \n", size)
	for i := 1; i < size; i++ {
		fmt.Fprintf(&buf, "%010d 00000 n \n", offsets[i])
	}
	fmt.Fprintf(&buf, "trailer\n<< /Size %d /Root %d 0 R%s%s%s >>\nstartxref\n%d\n%%%%EOF\n", size, catalog,
		refIf(" /Info", info), refIf(" /Encrypt", encrypt), idIf(o.Encrypted), start)
	return buf.Bytes()
}

func refIf(key string, num int) string {
	if num == 0 {
		return ""
	}
	return fmt.Sprintf("%s %d 0 R", key, num)
}

func idIf(ok bool) string {
	if !ok {
		return ""
	}
	return " /ID [<" + strings.Repeat("01", 16) + "> <" + strings.Repeat("01", 16) + ">]"
}

func pdfEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(s)
}

// Zlib compresses b as a FlateDecode stream holds it.
func Zlib(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}
