package extract

import (
	"bytes"
	"context"
	"crypto/md5"  //nolint:gosec
	"crypto/sha1" //nolint:gosec
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/extract/exe"
	"github.com/intellidox/intellidox/internal/extract/imagemeta"
	tc "github.com/intellidox/intellidox/internal/extract/internal/testcorpus"
	"github.com/intellidox/intellidox/internal/extract/office"
	"github.com/intellidox/intellidox/internal/extract/pdf"
	"github.com/intellidox/intellidox/internal/extract/text"
	"github.com/intellidox/intellidox/internal/scan/samples"
)

// TestStreamOnly covers a pass without random access or a name: hashes
// and detection from the stream alone.
func TestStreamOnly(t *testing.T) {
	pdfData := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 1<<20)...)
	tests := []struct {
		name string
		data []byte
		mime string
	}{
		{"pdf larger than one buffer", pdfData, "application/pdf"},
		{"plain text", []byte("hello, world\n"), "text/plain; charset=utf-8"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "image/png"},
		{"empty", nil, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Inspect(context.Background(), bytes.NewReader(tt.data), nil, -1, Options{})
			require.NoError(t, err)
			s256, s1, m5 := sha256.Sum256(tt.data), sha1.Sum(tt.data), md5.Sum(tt.data) //nolint:gosec
			assert.Equal(t, hex.EncodeToString(s256[:]), s.SHA256)
			assert.Equal(t, hex.EncodeToString(s1[:]), s.SHA1)
			assert.Equal(t, hex.EncodeToString(m5[:]), s.MD5)
			assert.Equal(t, int64(len(tt.data)), s.Size)
			assert.Equal(t, tt.mime, s.MIMEType)
		})
	}
}

func inspect(t *testing.T, data []byte, opts Options) Summary {
	t.Helper()
	s, err := Inspect(context.Background(), bytes.NewReader(data), bytes.NewReader(data), int64(len(data)), opts)
	require.NoError(t, err)
	// Whatever the format, the metadata must marshal to JSON.
	_, err = json.Marshal(s.Metadata)
	require.NoError(t, err)
	return s
}

func codes(fs []contract.Finding) []string {
	var c []string
	for _, f := range fs {
		c = append(c, f.Code)
	}
	return c
}

// TestInspectFormats runs the whole analysis on a corpus of every format and
// checks type, description and the per-format metadata field by field.
func TestInspectFormats(t *testing.T) {
	camera := &tc.EXIF{Make: "Canon", Model: "EOS R5", DateTimeOriginal: "2024:05:17 10:30:15", GPS: true, Orientation: 3}
	pe := tc.PEOptions{Imports: map[string][]string{"KERNEL32.dll": {"ExitProcess", "Sleep"}}, GUI: true}
	tests := []struct {
		name  string
		data  []byte
		mime  string
		desc  string
		check func(t *testing.T, s Summary)
	}{
		{"pdf with javascript", tc.PDF(tc.PDFOptions{Version: "1.6", Pages: 2, Title: "Invoice", JavaScript: true, OpenAction: true}),
			"application/pdf", "PDF document, version 1.6", func(t *testing.T, s Summary) {
				p := s.Metadata["pdf"].(*pdf.Info)
				assert.Equal(t, 2, p.PageCount)
				assert.Equal(t, "Invoice", p.Title)
				assert.True(t, p.HasJavaScript)
				assert.True(t, p.HasAutoAction)
				assert.False(t, p.HasEmbeddedFiles)
			}},
		{"jpeg with gps", tc.JPEG(32, 24, camera), "image/jpeg", "JPEG image", func(t *testing.T, s Summary) {
			im := s.Metadata["image"].(*imagemeta.Info)
			assert.Equal(t, 32, im.Width)
			assert.Equal(t, 24, im.Height)
			assert.Equal(t, "Canon", im.CameraMake)
			assert.Equal(t, "EOS R5", im.CameraModel)
			assert.Equal(t, "2024-05-17T10:30:15", im.TakenAt)
			assert.Equal(t, 3, im.Orientation)
			assert.True(t, im.GPSPresent)
			raw, _ := json.Marshal(im)
			assert.NotContains(t, string(raw), "48", "no coordinates leak")
		}},
		{"docm", tc.OOXML(tc.OOXMLOptions{Title: "Plan", Creator: "Eve", VBAProject: true, MacroEnabled: true}),
			"application/vnd.ms-word.document.macroEnabled.12", "Microsoft Word 2007+ document, macro-enabled", func(t *testing.T, s Summary) {
				o := s.Metadata["office"].(*office.Info)
				assert.True(t, o.HasMacros)
				assert.Equal(t, "Plan", o.Title)
				assert.Equal(t, "Eve", o.Creator)
				assert.Equal(t, ".docm", s.Extension)
				a := s.Metadata["archive"].(*archive.Info)
				assert.Equal(t, 5, a.EntryCount) // content types, rels, document, core properties, vbaProject.bin
			}},
		{"docx", tc.OOXML(tc.OOXMLOptions{Title: "Clean"}),
			"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Microsoft Word 2007+ document", func(t *testing.T, s Summary) {
				assert.False(t, s.Metadata["office"].(*office.Info).HasMacros)
			}},
		{"legacy word with macros", tc.OLE("WordDocument", "Macros", "VBA"), "application/msword",
			"Microsoft Word 97-2003 document, with macros", func(t *testing.T, s Summary) {
				o := s.Metadata["office"].(*office.Info)
				assert.True(t, o.HasMacros)
				assert.Equal(t, "doc", o.Format)
			}},
		{"password-protected docx", tc.OLE("EncryptionInfo", "EncryptedPackage"), "application/x-ole-storage",
			"Encrypted Microsoft Office document", func(t *testing.T, s Summary) {
				assert.True(t, s.Metadata["office"].(*office.Info).Encrypted)
				assert.Contains(t, codes(s.Findings), "encrypted_document")
				s2 := inspect(t, tc.OLE("EncryptionInfo", "EncryptedPackage"), Options{Name: "secret.docx"})
				assert.NotContains(t, codes(s2.Findings), "extension_mismatch")
			}},
		{"nested zip", tc.Zip(tc.File{Name: "a.txt", Body: []byte("a")}, tc.File{Name: "in.zip", Body: tc.Zip(tc.File{Name: "b.txt", Body: []byte("b")})}),
			"application/zip", "Zip archive", func(t *testing.T, s Summary) {
				a := s.Metadata["archive"].(*archive.Info)
				assert.Equal(t, 2, a.EntryCount)
				assert.Equal(t, 2, a.NestingDepth)
				assert.Equal(t, "in.zip/b.txt", a.Entries[2].Path)
			}},
		{"tar.gz", tc.TarGz(tc.File{Name: "x/y.txt", Body: []byte("yy")}, tc.File{Name: "x/", Mode: fs.ModeDir}),
			"application/gzip", "gzip compressed tar archive", func(t *testing.T, s Summary) {
				a := s.Metadata["archive"].(*archive.Info)
				assert.Equal(t, "tar.gz", a.Format)
				assert.Equal(t, 2, a.EntryCount)
				assert.Equal(t, int64(2), a.TotalUncompressedSize)
			}},
		{"7z", tc.SevenZip(tc.SevenZipOptions{EncodeHeader: true}, tc.File{Name: "a.txt", Body: []byte("aaa")}, tc.File{Name: "b/"}),
			"application/x-7z-compressed", "7-zip archive", func(t *testing.T, s Summary) {
				a := s.Metadata["archive"].(*archive.Info)
				assert.Equal(t, "7z", a.Format)
				assert.Equal(t, 2, a.EntryCount)
				assert.Equal(t, int64(3), a.TotalUncompressedSize)
			}},
		{"rar", samples.RAR("", "docs/a.txt", []byte("aaa")), "application/vnd.rar", "RAR archive", func(t *testing.T, s Summary) {
			a := s.Metadata["archive"].(*archive.Info)
			assert.Equal(t, "rar", a.Format)
			assert.Equal(t, []string{"docs/a.txt"}, []string{a.Entries[0].Path})
			assert.Empty(t, s.Findings)
		}},
		{"AES zip, built-in password", samples.AESZip("infected", "a.txt", []byte("aaa")), "application/zip", "Zip archive", func(t *testing.T, s Summary) {
			a := s.Metadata["archive"].(*archive.Info)
			assert.Equal(t, 1, a.UnlockedEntries)
			assert.Zero(t, a.EncryptedEntries)
			assert.Equal(t, archive.SourceBuiltin, a.Entries[0].UnlockedBy)
			assert.NotContains(t, codes(s.Findings), "encrypted_entries")
		}},
		{"AES zip, unknown password", samples.AESZip("not listed", "a.txt", []byte("aaa")), "application/zip", "Zip archive", func(t *testing.T, s Summary) {
			a := s.Metadata["archive"].(*archive.Info)
			assert.Equal(t, 1, a.EncryptedEntries)
			assert.Contains(t, codes(s.Findings), "encrypted_entries")
		}},
		{"zip bomb", tc.Bomb(3, 16, 1), "application/zip", "Zip archive", func(t *testing.T, s Summary) {
			require.Contains(t, codes(s.Findings), "zip_bomb")
			for _, f := range s.Findings {
				if f.Code == "zip_bomb" {
					assert.Equal(t, contract.VerdictSuspicious, f.Effect)
				}
			}
		}},
		{"pe", tc.PE(pe), "application/vnd.microsoft.portable-executable", "Windows PE32+ executable (GUI, x86-64)", func(t *testing.T, s Summary) {
			x := s.Metadata["executable"].(*exe.Info)
			assert.Equal(t, 2, x.ImportsCount)
			assert.Equal(t, "gui", x.Subsystem)
		}},
		{"elf", tc.ELF(0x401000), "application/x-executable", "ELF 64-bit executable (x86-64)", func(t *testing.T, s Summary) {
			assert.Equal(t, "0x401000", s.Metadata["executable"].(*exe.Info).EntryPoint)
		}},
		{"mach-o", tc.MachO(0x1000, true), "application/x-mach-binary", "Mach-O 64-bit executable (arm64)", nil},
		{"text", []byte("line one\nline two\n"), "text/plain; charset=utf-8", "plain text", func(t *testing.T, s Summary) {
			x := s.Metadata["text"].(*text.Info)
			assert.Equal(t, int64(2), x.LineCount)
			assert.Equal(t, "ascii", x.Encoding)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := inspect(t, tt.data, Options{})
			assert.Equal(t, tt.mime, s.MIMEType)
			assert.Equal(t, tt.desc, s.Description)
			ti := s.Metadata["type"].(TypeInfo)
			assert.Equal(t, TypeInfo{MIME: s.MIMEType, Description: s.Description, Extension: s.Extension}, ti)
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestInspectMismatch(t *testing.T) {
	exeData := tc.PE(tc.PEOptions{})
	docx := tc.OOXML(tc.OOXMLOptions{})
	zip := tc.Zip(tc.File{Name: "a", Body: []byte("a")})
	tests := []struct {
		name     string
		data     []byte
		opts     Options
		code     string // "" for no mismatch finding
		effect   contract.Verdict
		contains string
	}{
		{"executable named .pdf", exeData, Options{Name: "invoice.pdf"}, "extension_mismatch", contract.VerdictSuspicious,
			"extension .pdf but content is a Windows PE32+ executable"},
		{"executable declared as pdf", exeData, Options{DeclaredContentType: "application/pdf"}, "content_type_mismatch", contract.VerdictSuspicious, ""},
		{"png named .jpg", tc.PNG(2, 2, nil), Options{Name: "photo.JPG"}, "extension_mismatch", "", "extension .jpg but content is a PNG image"},
		{"text named .txt", []byte("hi\n"), Options{Name: "notes.txt", DeclaredContentType: "text/plain; charset=iso-8859-1"}, "", "", ""},
		{"json named .json declared text", []byte(`{"a":1}`), Options{Name: "a.json", DeclaredContentType: "text/plain"}, "", "", ""},
		{"csv declared application/vnd.ms-excel? no, text/csv", []byte("a,b\n1,2\n"), Options{Name: "t.csv", DeclaredContentType: "text/csv"}, "", "", ""},
		{"unknown extension", exeData, Options{Name: "payload.bin"}, "", "", ""},
		{"no extension", exeData, Options{Name: "README"}, "", "", ""},
		{"docx named .zip", docx, Options{Name: "a.zip", DeclaredContentType: "application/zip"}, "", "", ""},
		{"zip named .docx", zip, Options{Name: "a.docx", DeclaredContentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}, "", "", ""},
		{"jpeg declared image/jpg", tc.JPEG(2, 2, nil), Options{Name: "a.jpeg", DeclaredContentType: "image/jpg"}, "", "", ""},
		{"octet-stream says nothing", tc.JPEG(2, 2, nil), Options{DeclaredContentType: "application/octet-stream"}, "", "", ""},
		{"exe declared x-msdownload", exeData, Options{Name: "setup.exe", DeclaredContentType: "application/x-msdownload"}, "", "", ""},
		{"graphviz .dot", []byte("digraph g { a -> b }\n"), Options{Name: "deps.dot"}, "", "", ""},
		{"rtf saved as .doc", []byte("{\\rtf1\\ansi hello}"), Options{Name: "letter.doc"}, "", "", ""},
		{"ssh key .pub", []byte("ssh-ed25519 AAAAC3Nza me@host\n"), Options{Name: "id_ed25519.pub"}, "", "", ""},
		{"pdf named .doc", tc.PDF(tc.PDFOptions{}), Options{Name: "cv.doc"}, "extension_mismatch", "", "extension .doc but content is a PDF document"},
		{"docm declared as such", tc.OOXML(tc.OOXMLOptions{VBAProject: true, MacroEnabled: true}),
			Options{Name: "plan.docm", DeclaredContentType: "application/vnd.ms-word.document.macroEnabled.12"}, "", "", ""},
		{"pdf declared as image", tc.PDF(tc.PDFOptions{}), Options{DeclaredContentType: "image/png"}, "content_type_mismatch", "", "declared content type image/png but content is a PDF document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := inspect(t, tt.data, tt.opts)
			var got *contract.Finding
			for i, f := range s.Findings {
				if f.Code == "extension_mismatch" || f.Code == "content_type_mismatch" {
					require.Nil(t, got, "one mismatch finding: %v", s.Findings)
					got = &s.Findings[i]
				}
			}
			if tt.code == "" {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tt.code, got.Code)
			assert.Equal(t, tt.effect, got.Effect)
			assert.Contains(t, got.Message, tt.contains)
		})
	}
}

// bigZip returns a zip over smallFileSize, so that Inspect reads it through
// src rather than from memory.
func bigZip() []byte {
	return tc.Zip(tc.File{Name: "big.bin", Body: randomBytes(smallFileSize+1<<20, 11), Store: true},
		tc.File{Name: "inner.zip", Body: tc.Zip(tc.File{Name: "x.txt", Body: []byte("x")})})
}

func TestInspectThroughHTTP(t *testing.T) {
	data := bigZip()
	srv, hits := rangeServer(t, data)
	src := NewHTTPReaderAt(srv.Client(), srv.URL, int64(len(data)))
	s, err := Inspect(context.Background(), bytes.NewReader(data), src, int64(len(data)), Options{Name: "big.zip"})
	require.NoError(t, err)
	a := s.Metadata["archive"].(*archive.Info)
	assert.Equal(t, 2, a.EntryCount)
	assert.Equal(t, "inner.zip/x.txt", a.Entries[2].Path)
	assert.Empty(t, s.Findings)
	assert.LessOrEqual(t, hits.Load(), int64(10), "the zip directory and the nested zip cost a few range requests")
}

// blockingReaderAt never answers until its context is done.
type blockingReaderAt struct{ release chan struct{} }

func (b blockingReaderAt) ReadAt([]byte, int64) (int, error) {
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

func TestInspectTimeout(t *testing.T) {
	data := bigZip()
	src := blockingReaderAt{release: make(chan struct{})}
	defer close(src.release)
	lim := DefaultLimits()
	lim.MaxDuration = 200 * time.Millisecond
	start := time.Now()
	s, err := Inspect(context.Background(), bytes.NewReader(data), src, int64(len(data)), Options{Limits: lim})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Contains(t, codes(s.Findings), "analysis_timeout")
	sum := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), s.SHA256, "hashes are complete whatever the analysis did")
}

type panickingReaderAt struct{}

func (panickingReaderAt) ReadAt([]byte, int64) (int, error) { panic("parser bug") }

func TestInspectRecoversPanics(t *testing.T) {
	data := bigZip()
	s, err := Inspect(context.Background(), bytes.NewReader(data), panickingReaderAt{}, int64(len(data)), Options{})
	require.NoError(t, err)
	assert.Contains(t, codes(s.Findings), "parser_error")
	assert.Equal(t, "application/zip", s.MIMEType)
}

func TestInspectTooLarge(t *testing.T) {
	data := tc.PDF(tc.PDFOptions{JavaScript: true})
	lim := DefaultLimits()
	lim.MaxFileSize = 100
	s, err := Inspect(context.Background(), bytes.NewReader(data), nil, int64(len(data)), Options{Limits: lim})
	require.NoError(t, err)
	require.Equal(t, []string{"too_large_for_analysis"}, codes(s.Findings))
	assert.Equal(t, contract.VerdictUnscanned, s.Findings[0].Effect)
	assert.NotContains(t, s.Metadata, "pdf")
	assert.Equal(t, "application/pdf", s.MIMEType)
}

func TestInspectWithoutSrc(t *testing.T) {
	// Small files need no src: their bytes are kept from the hashing pass.
	data := tc.OOXML(tc.OOXMLOptions{VBAProject: true})
	s, err := Inspect(context.Background(), bytes.NewReader(data), nil, int64(len(data)), Options{})
	require.NoError(t, err)
	assert.True(t, s.Metadata["office"].(*office.Info).HasMacros)
	// Large ones of a random-access format get type detection only.
	big := bigZip()
	s, err = Inspect(context.Background(), bytes.NewReader(big), nil, int64(len(big)), Options{})
	require.NoError(t, err)
	assert.NotContains(t, s.Metadata, "archive")
}

func TestInspectSlowBodyIsNotATimeout(t *testing.T) {
	// Time spent waiting for the body does not count against MaxDuration:
	// the pause below is the slow network under test, not a synchronisation.
	// The budget is generous for a two-page PDF even on a loaded machine (at
	// 50 ms, CI once saw the analysis itself use it up while every package
	// was testing at once); the pause is four times the budget, so counting
	// it would still time the analysis out.
	lim := DefaultLimits()
	lim.MaxDuration = 500 * time.Millisecond
	data := tc.PDF(tc.PDFOptions{JavaScript: true, Pages: 2})
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(data[:len(data)/2])
		<-time.After(4 * lim.MaxDuration)
		_, _ = pw.Write(data[len(data)/2:])
		_ = pw.Close()
	}()
	s, err := Inspect(context.Background(), pr, nil, int64(len(data)), Options{Limits: lim})
	require.NoError(t, err)
	require.NotContains(t, codes(s.Findings), "analysis_timeout")
	assert.True(t, s.Metadata["pdf"].(*pdf.Info).HasJavaScript)
}

// TestInspectEncryptedPDF: an encrypted PDF is opened with the empty
// password or a listed one and read decrypted, naming the list; one that
// stays locked is unscanned with the reason, and so is one whose security
// handler cannot be read.
func TestInspectEncryptedPDF(t *testing.T) {
	js := samples.PDFObjStmJavaScriptEncrypted("infected")
	s := inspect(t, js, Options{})
	p := s.Metadata["pdf"].(*pdf.Info)
	assert.True(t, p.Encrypted)
	assert.Equal(t, "AES-256", p.Encryption)
	assert.True(t, p.Decrypted)
	assert.Equal(t, archive.SourceBuiltin, p.UnlockedBy)
	assert.True(t, p.HasJavaScript, "read inside the decrypted object stream")
	assert.True(t, p.HasAutoAction)
	assert.NotContains(t, codes(s.Findings), "encrypted_document")

	lim := DefaultLimits()
	lim.Passwords = []archive.Passwords{{Source: "tenant", List: []string{"x", "s3cret"}}}
	s = inspect(t, samples.PDFObjStmJavaScriptEncrypted("s3cret"), Options{Limits: lim})
	p = s.Metadata["pdf"].(*pdf.Info)
	assert.Equal(t, "tenant", p.UnlockedBy)
	assert.True(t, p.HasJavaScript)
	raw, err := json.Marshal(s.Metadata)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "s3cret", "the password never shows")

	s = inspect(t, samples.PDFObjStmJavaScriptEncrypted("unknown-password"), Options{})
	p = s.Metadata["pdf"].(*pdf.Info)
	assert.True(t, p.Encrypted)
	assert.False(t, p.Decrypted)
	assert.False(t, p.HasJavaScript)
	require.Contains(t, codes(s.Findings), "encrypted_document")
	for _, f := range s.Findings {
		if f.Code == "encrypted_document" {
			assert.Equal(t, contract.VerdictUnscanned, f.Effect)
			assert.Contains(t, f.Message, "encrypted (AES-256) and neither the empty password nor any known password opens it")
		}
	}

	s = inspect(t, tc.PDF(tc.PDFOptions{Encrypted: true}), Options{})
	require.Contains(t, codes(s.Findings), "encrypted_document", "a handler that cannot be opened is unscanned too")
}
