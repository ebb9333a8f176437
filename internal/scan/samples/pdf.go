package samples

import (
	"bytes"
	"compress/zlib"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
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
func PDFObjStm(action string) []byte { return pdfObjStm(action, nil) }

// PDFObjStmJavaScriptEncrypted is PDFObjStmJavaScript encrypted with
// AES-256 (the standard security handler, revision 6, PDF 2.0) under the
// user password, "owner-"+password being the owner password. Its salts
// and key are derived from the password, so the file is the same on every
// call.
func PDFObjStmJavaScriptEncrypted(password string) []byte {
	return pdfObjStm("<< /Type /Action /S /JavaScript /JS (app.alert\\('IntelliDox test'\\);) >>", newAES256(password, "owner-"+password))
}

func pdfObjStm(action string, enc *aes256) []byte {
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

	data := z.Bytes()
	if enc != nil {
		data = enc.encrypt(data)
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	off5 := b.Len()
	fmt.Fprintf(&b, "5 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n", len(objs), header.Len(), len(data))
	b.Write(data)
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
	size, trailer := 7, ""
	if enc != nil {
		entry(1, uint32(b.Len()), 0) // object 7, the /Encrypt dictionary, follows the stream
		size, trailer = 8, fmt.Sprintf(" /Encrypt 7 0 R /ID [<%x><%x>]", enc.id, enc.id)
	}
	var off7 int
	fmt.Fprintf(&b, "6 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R%s /Length %d >>\nstream\n", size, trailer, len(xref))
	b.Write(xref)
	b.WriteString("\nendstream\nendobj\n")
	if enc != nil {
		off7 = b.Len()
		fmt.Fprintf(&b, "7 0 obj\n%s\nendobj\n", enc.dict())
	}
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", off6)
	out := b.Bytes()
	if enc != nil {
		// The cross-reference entry of object 7 was written before its
		// offset was known: patch it (type 1, 4-byte offset, at the end).
		i := bytes.Index(out[off6:], []byte("stream\n")) + off6 + len("stream\n")
		binary.BigEndian.PutUint32(out[i+7*7+1:], uint32(off7))
	}
	return out
}

// aes256 encrypts a PDF with the standard security handler, revision 6:
// every value is derived from the passwords, so samples are reproducible.
type aes256 struct {
	key, id             []byte
	o, u, oe, ue, perms []byte
}

func newAES256(user, owner string) *aes256 {
	seed := sha256.Sum256([]byte("intellidox sample " + user))
	e := &aes256{key: seed[:], id: seed[:16]}
	salts := sha256.Sum256(seed[:])
	uvs, uks, ovs, oks := salts[0:8], salts[8:16], salts[16:24], salts[24:32]
	e.u = append(append(pdf20Hash([]byte(user), uvs, nil), uvs...), uks...)
	e.ue = aesCBC(pdf20Hash([]byte(user), uks, nil), make([]byte, 16), e.key)
	e.o = append(append(pdf20Hash([]byte(owner), ovs, e.u), ovs...), oks...)
	e.oe = aesCBC(pdf20Hash([]byte(owner), oks, e.u), make([]byte, 16), e.key)
	perms := []byte{0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'T', 'a', 'd', 'b', 0, 0, 0, 0} // P = -4
	e.perms = aesCBC(e.key, make([]byte, 16), perms)
	return e
}

func (e *aes256) dict() string {
	return fmt.Sprintf("<< /Filter /Standard /V 5 /R 6 /Length 256 /CF << /StdCF << /CFM /AESV3 /AuthEvent /DocOpen /Length 32 >> >> "+
		"/StmF /StdCF /StrF /StdCF /P -4 /O <%x> /U <%x> /OE <%x> /UE <%x> /Perms <%x> >>", e.o, e.u, e.oe, e.ue, e.perms)
}

// encrypt encrypts a stream: an IV, then AES-256-CBC with PKCS#5 padding.
func (e *aes256) encrypt(data []byte) []byte {
	iv := sha256.Sum256(data)
	n := 16 - len(data)%16
	padded := append(append([]byte{}, data...), bytes.Repeat([]byte{byte(n)}, n)...)
	return append(iv[:16:16], aesCBC(e.key, iv[:16], padded)...)
}

func aesCBC(key, iv, data []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	out := make([]byte, len(data))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, data)
	return out
}

// pdf20Hash is the password hash of revision 6 (ISO 32000-2, algorithm
// 2.B).
func pdf20Hash(pw, salt, udata []byte) []byte {
	k := sha256.Sum256(append(append(append([]byte{}, pw...), salt...), udata...))
	key := k[:]
	var e []byte
	for round := 0; round < 64 || int(e[len(e)-1]) > round-32; round++ {
		var k1 []byte
		for range 64 {
			k1 = append(append(append(k1, pw...), key...), udata...)
		}
		e = aesCBC(key[:16], key[16:32], k1)
		sum := 0
		for _, c := range e[:16] {
			sum += int(c)
		}
		h := []func() hash.Hash{sha256.New, sha512.New384, sha512.New}[sum%3]()
		h.Write(e)
		key = h.Sum(nil)
	}
	return key[:32]
}
