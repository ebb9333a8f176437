// Package samples builds the project's test files: harmless files that the
// engines' rule packs, signature sets and hash lists are written to flag.
// They are generated rather than committed so that every byte is explained
// here, and the same bytes serve unit tests, the conformance suite and the
// end-to-end tests.
package samples

import (
	"archive/zip"
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"
)

// EICAR is the standard antivirus test file.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// Marker makes a file malicious for the project's ClamAV signature set
// (clamav/db/intellidox.ndb, IntelliDox.Test.Marker) and for the example
// Node.js scanner.
const Marker = "INTELLIDOX-TEST-MALWARE-7f3a9c"

// HashListed is a harmless file whose hashes are listed in
// rules/reputation/known-bad.csv.
const HashListed = "IntelliDox hash-listed test file. It is harmless: the reputation list names its hashes.\n"

// Clean is an ordinary text file no engine should flag.
const Clean = "IntelliDox sample: an ordinary text file with nothing to find.\n"

// EICARZip is a zip archive holding EICAR (deflated, so the bytes of the
// container do not contain the string).
func EICARZip() []byte {
	return zipOf(map[string][]byte{"readme.txt": []byte(Clean), "eicar.com": []byte(EICAR)})
}

// zipOf builds a deflated zip with deterministic timestamps; members are
// written in name order.
func zipOf(members map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(members)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate,
			Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			panic(err)
		}
		if _, err := w.Write(members[name]); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// PDF builds a one-page PDF whose catalog carries extra (e.g. an
// /OpenAction entry) and whose object 4 is action (a dictionary body, or ""
// for none). The cross-reference table is correct, so PDF readers open it.
func PDF(catalogExtra, action string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R " + catalogExtra + " >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
	}
	if action != "" {
		objs = append(objs, action)
	}
	return pdfOf(objs)
}

// pdfOf writes a PDF 1.7 file of objs, numbered from 1, the first the
// catalog, with a correct cross-reference table.
func pdfOf(objs []string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// PDFJavaScript is a PDF that runs JavaScript when opened.
func PDFJavaScript() []byte {
	return PDF("/OpenAction 4 0 R", "<< /Type /Action /S /JavaScript /JS (app.alert\\('IntelliDox test'\\);) >>")
}

// PDFJavaScriptHexEscaped hides the same action behind hex-escaped names
// (/J#61vaScript is /JavaScript), a common evasion.
func PDFJavaScriptHexEscaped() []byte {
	return PDF("/Open#41ction 4 0 R", "<< /Type /Action /S /J#61vaScript /J#53 (app.alert\\('IntelliDox test'\\);) >>")
}

// PDFPlain is a PDF whose only action sets the initial view, as LaTeX's
// hyperref and many other producers write: not a threat.
func PDFPlain() []byte {
	return PDF("/OpenAction [3 0 R /Fit]", "")
}
