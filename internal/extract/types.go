package extract

import (
	"fmt"
	"mime"
	"path"
	"strings"

	"github.com/gabriel-vasile/mimetype"

	"github.com/intellidox/intellidox/internal/contract"
)

// TypeInfo is metadata["type"].
type TypeInfo struct {
	MIME        string `json:"mime"`
	Description string `json:"description"`
	Extension   string `json:"extension"`
}

// descriptions are the human names of the types mimetype detects, for those
// a user is likely to meet. Deep analysis refines some (PDF version,
// executable architecture).
var descriptions = map[string]string{
	"application/pdf":                         "PDF document",
	"application/zip":                         "Zip archive",
	"application/gzip":                        "gzip compressed data",
	"application/x-tar":                       "POSIX tar archive",
	"application/x-7z-compressed":             "7-zip archive",
	"application/vnd.rar":                     "RAR archive",
	"application/x-bzip2":                     "bzip2 compressed data",
	"application/x-xz":                        "XZ compressed data",
	"application/zstd":                        "Zstandard compressed data",
	"application/vnd.ms-cab-compressed":       "Microsoft Cabinet archive",
	"application/java-archive":                "Java archive (JAR)",
	"application/vnd.android.package-archive": "Android package (APK)",
	"application/epub+zip":                    "EPUB document",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   "Microsoft Word 2007+ document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         "Microsoft Excel 2007+ workbook",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "Microsoft PowerPoint 2007+ presentation",
	"application/vnd.oasis.opendocument.text":                                   "OpenDocument text",
	"application/vnd.oasis.opendocument.spreadsheet":                            "OpenDocument spreadsheet",
	"application/vnd.oasis.opendocument.presentation":                           "OpenDocument presentation",
	"application/x-ole-storage":                                                 "Composite Document File V2 (OLE) document",
	"application/msword":                                                        "Microsoft Word 97-2003 document",
	"application/vnd.ms-excel":                                                  "Microsoft Excel 97-2003 workbook",
	"application/vnd.ms-powerpoint":                                             "Microsoft PowerPoint 97-2003 presentation",
	"application/x-ms-installer":                                                "Microsoft Installer package (MSI)",
	"application/vnd.ms-outlook":                                                "Microsoft Outlook message",
	"application/vnd.ms-publisher":                                              "Microsoft Publisher document",
	"application/vnd.microsoft.portable-executable":                             "Windows PE executable",
	"application/x-elf":                                                         "ELF file",
	"application/x-executable":                                                  "ELF executable",
	"application/x-sharedlib":                                                   "ELF shared object",
	"application/x-object":                                                      "ELF relocatable object",
	"application/x-coredump":                                                    "ELF core dump",
	"application/x-mach-binary":                                                 "Mach-O binary",
	"application/x-msdownload":                                                  "Windows executable",
	"application/vnd.microsoft.lnk":                                             "Windows shortcut (LNK)",
	"application/x-shockwave-flash":                                             "Adobe Flash (SWF)",
	"application/wasm":                                                          "WebAssembly binary",
	"application/x-java-applet":                                                 "Java class file",
	"application/x-sqlite3":                                                     "SQLite 3 database",
	"application/postscript":                                                    "PostScript document",
	"application/rtf":                                                           "Rich Text Format document",
	"text/rtf":                                                                  "Rich Text Format document",
	"application/octet-stream":                                                  "binary data",
	"image/jpeg":                                                                "JPEG image",
	"image/png":                                                                 "PNG image",
	"image/apng":                                                                "animated PNG image",
	"image/gif":                                                                 "GIF image",
	"image/webp":                                                                "WebP image",
	"image/tiff":                                                                "TIFF image",
	"image/bmp":                                                                 "BMP image",
	"image/x-icon":                                                              "Windows icon",
	"image/svg+xml":                                                             "SVG image",
	"image/heic":                                                                "HEIC image",
	"image/avif":                                                                "AVIF image",
	"audio/mpeg":                                                                "MP3 audio",
	"audio/wav":                                                                 "WAVE audio",
	"audio/flac":                                                                "FLAC audio",
	"audio/ogg":                                                                 "Ogg audio",
	"video/mp4":                                                                 "MP4 video",
	"video/webm":                                                                "WebM video",
	"video/quicktime":                                                           "QuickTime video",
	"video/x-msvideo":                                                           "AVI video",
	"text/plain":                                                                "plain text",
	"text/html":                                                                 "HTML document",
	"text/xml":                                                                  "XML document",
	"text/csv":                                                                  "CSV text",
	"text/tab-separated-values":                                                 "TSV text",
	"application/json":                                                          "JSON text",
	"text/javascript":                                                           "JavaScript source",
	"text/x-php":                                                                "PHP script",
	"text/x-python":                                                             "Python script",
	"text/x-shellscript":                                                        "shell script",
	"text/x-perl":                                                               "Perl script",
	"text/x-ruby":                                                               "Ruby script",
	"text/x-lua":                                                                "Lua script",
	"text/x-tcl":                                                                "Tcl script",
	"message/rfc822":                                                            "e-mail message (RFC 822)",
	"text/calendar":                                                             "iCalendar data",
	"text/vcard":                                                                "vCard data",
}

// describeMIME returns a human description of mt, falling back on its
// ancestors ("plain text" for an unlisted text format) and then on the MIME
// type itself.
func describeMIME(mt *mimetype.MIME) string {
	for m := mt; m != nil; m = m.Parent() {
		base, _, _ := mime.ParseMediaType(m.String())
		if d, ok := descriptions[base]; ok {
			if m != mt && base == "application/octet-stream" {
				break
			}
			return d
		}
	}
	base, _, _ := mime.ParseMediaType(mt.String())
	return base
}

// is reports whether mt, or one of its ancestors, is typ (or an alias of it).
func is(mt *mimetype.MIME, typ string) bool {
	for m := mt; m != nil; m = m.Parent() {
		if m.Is(typ) && !m.Is("application/octet-stream") {
			return true
		}
	}
	return false
}

// extTypes maps a lower-case file extension to the types its content may
// have. A detected type matches when it or an ancestor in mimetype's tree
// is listed, so "text/plain" accepts every text format and
// "application/zip" every zip-based one. Extensions not listed here are
// never reported as mismatched, and neither are ambiguous ones (.ts is
// TypeScript and MPEG transport streams, .pub Publisher and SSH keys).
var extTypes = map[string][]string{}

func init() {
	add := func(types []string, exts ...string) {
		for _, e := range exts {
			extTypes[e] = types
		}
	}
	add([]string{"application/pdf"}, ".pdf")
	add([]string{"text/plain"}, ".txt", ".text", ".csv", ".tsv", ".log", ".md", ".markdown", ".json", ".xml",
		".html", ".htm", ".xhtml", ".js", ".mjs", ".css", ".yaml", ".yml", ".ini", ".cfg", ".conf", ".toml",
		".sh", ".bash", ".py", ".rb", ".pl", ".php", ".sql", ".svg", ".rtf", ".ics", ".vcf", ".eml", ".srt", ".go", ".c", ".h", ".java")
	add([]string{"image/jpeg"}, ".jpg", ".jpeg", ".jpe", ".jfif")
	add([]string{"image/png"}, ".png")
	add([]string{"image/gif"}, ".gif")
	add([]string{"image/webp"}, ".webp")
	add([]string{"image/tiff"}, ".tif", ".tiff")
	add([]string{"image/bmp"}, ".bmp")
	add([]string{"image/x-icon"}, ".ico")
	add([]string{"application/zip"}, ".zip", ".odt", ".ods", ".odp", ".epub", ".jar", ".apk", ".kmz", ".vsdx", ".xpi", ".whl")
	// A password-protected OOXML document is an OLE file.
	add([]string{"application/zip", "application/x-ole-storage"}, ".docx", ".docm", ".dotx", ".dotm", ".xlsx", ".xlsm",
		".xltx", ".xltm", ".pptx", ".pptm", ".potx", ".ppsx")
	add([]string{"application/x-ole-storage"}, ".ppt", ".pps", ".pot", ".msi", ".msg")
	// Word saves RTF under .doc, web applications export HTML or CSV
	// under .xls, and .dot is also Graphviz source.
	add([]string{"application/x-ole-storage", "text/plain"}, ".doc", ".dot", ".xls", ".xlt")
	add([]string{"application/gzip"}, ".gz", ".tgz")
	add([]string{"application/x-tar"}, ".tar")
	add([]string{"application/x-7z-compressed"}, ".7z")
	add([]string{"application/vnd.rar"}, ".rar")
	add([]string{"application/x-bzip2"}, ".bz2", ".tbz2")
	add([]string{"application/x-xz"}, ".xz", ".txz")
	add([]string{"application/vnd.microsoft.portable-executable"}, ".exe", ".dll", ".sys", ".scr", ".ocx", ".cpl", ".efi", ".drv")
	add([]string{"application/x-elf"}, ".so", ".elf", ".ko")
	add([]string{"audio/mpeg"}, ".mp3")
	add([]string{"video/mp4"}, ".mp4", ".m4a", ".m4v")
	add([]string{"audio/wav"}, ".wav")
	add([]string{"video/webm"}, ".webm")
	add([]string{"video/quicktime"}, ".mov")
}

// executable reports whether mt is native code.
func executable(mt *mimetype.MIME) bool {
	return is(mt, "application/vnd.microsoft.portable-executable") || is(mt, "application/x-elf") ||
		is(mt, "application/x-mach-binary")
}

// executableExt reports whether ext names native code.
func executableExt(ext string) bool {
	t := extTypes[ext]
	return len(t) == 1 && (t[0] == "application/vnd.microsoft.portable-executable" || t[0] == "application/x-elf")
}

// extensionMismatch returns the finding for a name whose extension disagrees
// with the content, or nil. Content that is native code under a
// non-executable extension is a classic disguise, hence suspicious; other
// mismatches are informational.
func extensionMismatch(name string, mt *mimetype.MIME, desc string) *contract.Finding {
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/")))
	types, known := extTypes[ext]
	if !known {
		return nil
	}
	for _, t := range types {
		if is(mt, t) {
			return nil
		}
	}
	f := &contract.Finding{Code: "extension_mismatch",
		Message: fmt.Sprintf("extension %s but content is %s", ext, article(desc))}
	if executable(mt) && !executableExt(ext) {
		f.Effect = contract.VerdictSuspicious
	}
	return f
}

// genericContentTypes say nothing about the content.
var genericContentTypes = map[string]bool{
	"application/octet-stream": true, "binary/octet-stream": true, "application/binary": true,
	"application/unknown": true, "application/x-download": true, "application/force-download": true,
	"application/download": true,
}

// contentTypeAliases are spellings clients send that mimetype does not know
// as aliases, mapped to mimetype's name.
var contentTypeAliases = map[string]string{
	"image/jpg":                       "image/jpeg",
	"image/pjpeg":                     "image/jpeg",
	"image/x-png":                     "image/png",
	"image/tif":                       "image/tiff",
	"application/x-msdownload":        "application/vnd.microsoft.portable-executable",
	"application/x-msdos-program":     "application/vnd.microsoft.portable-executable",
	"application/x-dosexec":           "application/vnd.microsoft.portable-executable",
	"application/x-ms-dos-executable": "application/vnd.microsoft.portable-executable",
	"application/exe":                 "application/vnd.microsoft.portable-executable",
	"application/x-exe":               "application/vnd.microsoft.portable-executable",
	"application/x-compressed":        "application/zip",
	"application/x-tar-gz":            "application/gzip",
	"application/x-compressed-tar":    "application/gzip",
	"application/x-gtar":              "application/x-tar",
}

// textual reports whether a declared media type names text.
func textual(base string) bool {
	if strings.HasPrefix(base, "text/") || strings.HasSuffix(base, "+xml") || strings.HasSuffix(base, "+json") {
		return true
	}
	switch base {
	case "application/json", "application/xml", "application/javascript", "application/x-javascript",
		"application/ecmascript", "application/x-sh", "application/x-shellscript", "application/x-httpd-php",
		"application/x-python", "application/sql", "application/yaml", "application/x-yaml", "application/toml",
		"application/x-ndjson", "application/rtf", "application/x-subrip":
		return true
	}
	return false
}

// contentTypeMismatch returns the finding for a declared content type that
// disagrees with the content, or nil. Parameters (charset) are ignored, any
// text type matches text content, and a declared type that is a
// specialisation of the detected one (docx declared, zip detected) matches,
// and so does the type deep analysis refined (docm).
func contentTypeMismatch(declared string, mt *mimetype.MIME, refined, desc string) *contract.Finding {
	base, _, err := mime.ParseMediaType(declared)
	if err != nil || base == "" || genericContentTypes[base] || strings.EqualFold(base, refined) {
		return nil
	}
	if a, ok := contentTypeAliases[base]; ok {
		base = a
	}
	if is(mt, base) {
		return nil
	}
	if textual(base) && is(mt, "text/plain") {
		return nil
	}
	if d := mimetype.Lookup(base); d != nil {
		for m := d.Parent(); m != nil; m = m.Parent() {
			if m.Is(mt.String()) && !m.Is("application/octet-stream") {
				return nil
			}
		}
	}
	f := &contract.Finding{Code: "content_type_mismatch",
		Message: fmt.Sprintf("declared content type %s but content is %s", base, article(desc))}
	if executable(mt) && base != "application/vnd.microsoft.portable-executable" {
		f.Effect = contract.VerdictSuspicious
	}
	return f
}

// article prefixes a description with "a" or "an".
func article(desc string) string {
	if desc == "" {
		return "unknown content"
	}
	c := desc[0]
	if strings.ContainsRune("aeiouAEIOU", rune(c)) ||
		(len(desc) > 1 && strings.ContainsRune("FHLMNRSX", rune(c)) && desc[1] >= 'A' && desc[1] <= 'Z') {
		return "an " + desc
	}
	return "a " + desc
}

// summary assembles the Summary of an analysis from mt and what the
// analyzers found.
func (r *result) summary(mt *mimetype.MIME, n int64, opts Options) Summary {
	desc := r.desc
	if desc == "" {
		desc = describeMIME(mt)
	}
	s := Summary{Size: n, MIMEType: mt.String(), Extension: mt.Extension(), Description: desc, Metadata: r.meta}
	if r.mime != "" {
		s.MIMEType, s.Extension = r.mime, r.ext
	}
	s.Metadata["type"] = TypeInfo{MIME: s.MIMEType, Description: desc, Extension: s.Extension}
	var fs []contract.Finding
	if n > 0 {
		if f := extensionMismatch(opts.Name, mt, desc); f != nil {
			fs = append(fs, *f)
		}
		if f := contentTypeMismatch(opts.DeclaredContentType, mt, r.mime, desc); f != nil {
			fs = append(fs, *f)
		}
	}
	s.Findings = append(fs, r.findings...)
	return s
}
