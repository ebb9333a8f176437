package samples

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
)

// PDFObjStmJavaScript is a PDF 1.5 file whose every dictionary (catalog,
// pages, page and a JavaScript /OpenAction) lives in a FlateDecode object
// stream, found through a cross-reference stream: nothing in its raw bytes
// names JavaScript or an action.
func PDFObjStmJavaScript() []byte {
	return PDFObjStm("<< /Type /Action /S /JavaScript /JS (app.alert\\('IntelliDox test'\\);) >>")
}

// PDFObjStmPlain is PDFObjStmJavaScript with an action that only sets the
// view, for the clean counterpart.
func PDFObjStmPlain() []byte {
	return PDFObjStm("<< /Type /Action /S /GoTo /D [3 0 R /Fit] >>")
}

// PDFObjStm builds a PDF whose objects 1 to 4 (catalog, pages, page, and
// the catalog's /OpenAction, action) are compressed in object stream 5; an
// uncompressed cross-reference stream (object 6) maps them.
func PDFObjStm(action string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
		action,
	}
	var header, body bytes.Buffer
	for i, o := range objs {
		fmt.Fprintf(&header, "%d %d ", i+1, body.Len())
		body.WriteString(o + "\n")
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(append(header.Bytes(), body.Bytes()...))
	_ = zw.Close()

	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	off5 := b.Len()
	fmt.Fprintf(&b, "5 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n", len(objs), header.Len(), z.Len())
	b.Write(z.Bytes())
	b.WriteString("\nendstream\nendobj\n")
	off6 := b.Len()
	// Entries of W [1 4 2]: type, offset or object stream, generation or index.
	var xref []byte
	entry := func(typ byte, a uint32, c uint16) {
		xref = append(xref, typ)
		xref = binary.BigEndian.AppendUint32(xref, a)
		xref = binary.BigEndian.AppendUint16(xref, c)
	}
	entry(0, 0, 0xFFFF)
	for i := range objs {
		entry(2, 5, uint16(i))
	}
	entry(1, uint32(off5), 0)
	entry(1, uint32(off6), 0)
	fmt.Fprintf(&b, "6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n", len(xref))
	b.Write(xref)
	b.WriteString("\nendstream\nendobj\n")
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", off6)
	return b.Bytes()
}
