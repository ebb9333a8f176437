// Package office reads the properties of Office documents: Office Open
// XML packages (docx, xlsx, pptx and their macro-enabled variants) and
// legacy OLE compound files (doc, xls, ppt), including whether they carry
// VBA macros.
package office

import (
	"archive/zip"
	"encoding/xml"
	"io"
	"path"
	"strings"
	"unicode/utf8"
)

// Info is the Office metadata of a file (metadata["office"]).
type Info struct {
	// Format is the document type found inside: "docx", "docm", "xlsx",
	// "xlsm", "pptx", "pptm" (and templates, slide shows, xlsb) for OOXML;
	// "doc", "xls", "ppt", "ooxml-encrypted" (a password-protected OOXML
	// document) or "ole" (another compound file) for OLE.
	Format    string `json:"format"`
	Container string `json:"container"` // "ooxml" or "ole"
	// Core and application properties (OOXML only).
	Application    string `json:"application,omitempty"`
	Title          string `json:"title,omitempty"`
	Creator        string `json:"creator,omitempty"`
	LastModifiedBy string `json:"lastModifiedBy,omitempty"`
	Created        string `json:"created,omitempty"`
	Modified       string `json:"modified,omitempty"`
	// Encrypted: a password-protected OOXML document (its content, macros
	// included, cannot be inspected).
	Encrypted bool `json:"encrypted,omitempty"`
	// HasMacros: a VBA project (vbaProject.bin, a macro-enabled content
	// type, or VBA storages in an OLE file).
	HasMacros bool `json:"hasMacros"`
	// MacroParts names what showed the macros: part names for OOXML,
	// storage names for OLE.
	MacroParts []string `json:"macroParts,omitempty"`
}

// MIME returns the media type of the format, for the formats whose
// detection from the first bytes alone is not reliable.
func (i *Info) MIME() (mime, ext string) {
	switch i.Format {
	case "docx":
		return "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"
	case "docm":
		return "application/vnd.ms-word.document.macroEnabled.12", ".docm"
	case "xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"
	case "xlsm":
		return "application/vnd.ms-excel.sheet.macroEnabled.12", ".xlsm"
	case "pptx":
		return "application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"
	case "pptm":
		return "application/vnd.ms-powerpoint.presentation.macroEnabled.12", ".pptm"
	}
	return "", ""
}

// Description returns a human description of the format.
func (i *Info) Description() string {
	d := map[string]string{
		"docx": "Microsoft Word 2007+ document", "docm": "Microsoft Word 2007+ document, macro-enabled",
		"dotx": "Microsoft Word 2007+ template", "dotm": "Microsoft Word 2007+ template, macro-enabled",
		"xlsx": "Microsoft Excel 2007+ workbook", "xlsm": "Microsoft Excel 2007+ workbook, macro-enabled",
		"xltx": "Microsoft Excel 2007+ template", "xltm": "Microsoft Excel 2007+ template, macro-enabled",
		"xlsb": "Microsoft Excel 2007+ binary workbook",
		"pptx": "Microsoft PowerPoint 2007+ presentation", "pptm": "Microsoft PowerPoint 2007+ presentation, macro-enabled",
		"ppsx": "Microsoft PowerPoint 2007+ slide show", "ppsm": "Microsoft PowerPoint 2007+ slide show, macro-enabled",
		"potx": "Microsoft PowerPoint 2007+ template", "potm": "Microsoft PowerPoint 2007+ template, macro-enabled",
		"doc": "Microsoft Word 97-2003 document", "xls": "Microsoft Excel 97-2003 workbook",
		"ppt":             "Microsoft PowerPoint 97-2003 presentation",
		"ooxml-encrypted": "Encrypted Microsoft Office document",
	}[i.Format]
	if d != "" && i.HasMacros && i.Container == "ole" {
		d += ", with macros"
	}
	return d
}

// mainTypes maps the content type of an OOXML main part to the format.
var mainTypes = map[string]string{
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml":   "docx",
	"application/vnd.ms-word.document.macroEnabled.main+xml":                             "docm",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml":   "dotx",
	"application/vnd.ms-word.template.macroEnabledTemplate.main+xml":                     "dotm",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml":         "xlsx",
	"application/vnd.ms-excel.sheet.macroEnabled.main+xml":                               "xlsm",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml":      "xltx",
	"application/vnd.ms-excel.template.macroEnabled.main+xml":                            "xltm",
	"application/vnd.ms-excel.sheet.binary.macroEnabled.main":                            "xlsb",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
	"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml":                   "pptm",
	"application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml":    "ppsx",
	"application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml":                      "ppsm",
	"application/vnd.openxmlformats-officedocument.presentationml.template.main+xml":     "potx",
	"application/vnd.ms-powerpoint.template.macroEnabled.main+xml":                       "potm",
}

var mainTypesLower = func() map[string]string {
	m := map[string]string{}
	for k, v := range mainTypes {
		m[strings.ToLower(k)] = v
	}
	return m
}()

// maxPart bounds the bytes read from one XML part.
const maxPart = 1 << 20

type contentTypes struct {
	Defaults []struct {
		Extension   string `xml:"Extension,attr"`
		ContentType string `xml:"ContentType,attr"`
	} `xml:"Default"`
	Overrides []struct {
		PartName    string `xml:"PartName,attr"`
		ContentType string `xml:"ContentType,attr"`
	} `xml:"Override"`
}

type coreProps struct {
	Title          string `xml:"http://purl.org/dc/elements/1.1/ title"`
	Creator        string `xml:"http://purl.org/dc/elements/1.1/ creator"`
	LastModifiedBy string `xml:"http://schemas.openxmlformats.org/package/2006/metadata/core-properties lastModifiedBy"`
	Created        string `xml:"http://purl.org/dc/terms/ created"`
	Modified       string `xml:"http://purl.org/dc/terms/ modified"`
}

type appProps struct {
	Application string `xml:"Application"`
	AppVersion  string `xml:"AppVersion"`
}

// ReadOOXML returns the properties of the OOXML package in zr, or nil if zr
// is not one (it has no [Content_Types].xml naming an Office main part).
func ReadOOXML(zr *zip.Reader) *Info {
	files := map[string]*zip.File{}
	var vba []string
	for _, f := range zr.File {
		name := strings.TrimPrefix(f.Name, "/")
		files[strings.ToLower(name)] = f
		if strings.EqualFold(path.Base(name), "vbaProject.bin") {
			vba = append(vba, name)
		}
	}
	var ct contentTypes
	if !readXML(files["[content_types].xml"], &ct) {
		return nil
	}
	info := &Info{Container: "ooxml"}
	for _, o := range ct.Overrides {
		if f, ok := mainTypesLower[strings.ToLower(strings.TrimSpace(o.ContentType))]; ok {
			info.Format = f
		}
		if strings.Contains(strings.ToLower(o.ContentType), "vbaproject") {
			vba = append(vba, strings.TrimPrefix(o.PartName, "/"))
		}
	}
	if info.Format == "" {
		return nil
	}
	// The macro-enabled formats (docm, xlsm, ...) declare so in their main
	// content type. xlsb is always declared macro-enabled, so only its
	// vbaProject.bin tells.
	if strings.HasSuffix(info.Format, "m") {
		info.HasMacros = true
	}
	if len(vba) > 0 {
		info.HasMacros = true
		info.MacroParts = dedupe(vba)
	}
	var core coreProps
	if readXML(files["docprops/core.xml"], &core) {
		info.Title, info.Creator, info.LastModifiedBy = clean(core.Title), clean(core.Creator), clean(core.LastModifiedBy)
		info.Created, info.Modified = clean(core.Created), clean(core.Modified)
	}
	var app appProps
	if readXML(files["docprops/app.xml"], &app) {
		info.Application = clean(app.Application)
	}
	return info
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[strings.ToLower(v)] {
			seen[strings.ToLower(v)] = true
			out = append(out, v)
		}
	}
	return out
}

// readXML decodes at most maxPart bytes of f into v.
func readXML(f *zip.File, v any) bool {
	if f == nil {
		return false
	}
	rc, err := f.Open()
	if err != nil {
		return false
	}
	defer rc.Close()
	d := xml.NewDecoder(io.LimitReader(rc, maxPart))
	d.Strict = false
	return d.Decode(v) == nil
}

// maxText bounds the length of a property.
const maxText = 256

// clean trims a property, drops control characters and bounds its length.
func clean(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			continue
		}
		if n == maxText {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
