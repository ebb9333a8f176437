// Package views decodes what a file hides from byte rules into views: the
// VBA source of Office documents (MS-OVBA-compressed in the file), the
// inflated streams of PDFs (object streams included), the files embedded
// in PDFs and OLE files, and the base64 and hex blobs of text. A rule
// engine scans each view beside the raw bytes and names it in its detail,
// e.g. "vba:Module1". Views are made only for the file types that have
// them, and only when asked for: Decode sniffs the first bytes and returns
// at once for anything else. Views are decoded in turn, one level down
// (MaxDepth): a PDF's embedded .doc gives its VBA source, a script's base64
// blob gives the blobs of the text it decodes to.
package views

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/extract/office"
	"github.com/intellidox/intellidox/internal/extract/pdf"
)

// Kinds of view. A YARA rule tells them apart by the external variable
// intellidox_view, which is "" for raw bytes.
const (
	KindVBA       = "vba"        // one VBA module's source
	KindPDFStream = "pdf-stream" // one inflated PDF stream
	KindEmbedded  = "embedded"   // a file embedded in a PDF or an OLE file, as it was attached
	KindBase64    = "base64"     // a base64 run of a text, decoded
	KindHex       = "hex"        // a hex run of a text, decoded
)

// MaxDepth is how deep views nest: the views of a file are at depth 1,
// the views of those views at 2, and no deeper. Two levels reach a macro
// in a document attached to a PDF, and a command encoded twice.
const MaxDepth = 2

// CodeViewsLimit is the finding code when a limit kept some views from
// being made or cut one short; its effect is unscanned.
const CodeViewsLimit = "views_limit"

// CodeViewsTextLimit is the finding code when a text was longer than
// Limits.MaxTextBytes and its rest was not searched for blobs. It is
// informational: the raw bytes are still scanned whole, and large text
// files (logs, data) are common and harmless.
const CodeViewsTextLimit = "views_text_limit"

// CodeEncrypted is the finding code when an encrypted PDF could not be
// opened, so that none of its streams was decoded; its effect is
// unscanned, as for an archive's locked members.
const CodeEncrypted = "encrypted_document"

// View is one decoded view of a file.
type View struct {
	Kind string
	// Name says where the view comes from: "vba:Module1",
	// "pdf:obj 12" (a stream), "pdf:objstm 5" (an object stream),
	// "pdf:embedded report.exe", "ole:embedded payload.exe",
	// "base64@1234" (the run's byte offset), "hex@99"; a view of a view
	// is named by both: "pdf:embedded a.doc/vba:Module1".
	Name string
	Data []byte
	// UnlockedBy names the password list that opened the encrypted PDF
	// the view comes from; "" when no password was needed.
	UnlockedBy string
}

// Limits bound the views made for one scanned file, its archive members
// included. Zero fields take the defaults.
type Limits struct {
	MaxViews      int   // views made; default 1024
	MaxViewBytes  int64 // bytes per view; default 8 MiB
	MaxTotalBytes int64 // bytes over all views; default 64 MiB
	// MinBlobBytes is how many bytes a base64 or hex run must decode to
	// to be a view; default 256, enough to hold a script's command or a
	// small executable and more than hashes, keys and identifiers.
	MinBlobBytes int
	// MaxTextBytes bounds the bytes of one text (a file, member or view)
	// searched for blobs; default 16 MiB.
	MaxTextBytes int64
	// Passwords are tried, after the empty password, on encrypted PDFs
	// (pdf.Security.Unlock); nil means the built-in list alone.
	Passwords []archive.Passwords
}

// Defaults for Limits.
const (
	DefaultMaxViews      = 1024
	DefaultMaxViewBytes  = 8 << 20
	DefaultMaxTotalBytes = 64 << 20
	DefaultMinBlobBytes  = 256
	DefaultMaxTextBytes  = 16 << 20
)

// WithDefaults returns l with every zero (or negative) field set to its
// default.
func (l Limits) WithDefaults() Limits {
	if l.MaxViews <= 0 {
		l.MaxViews = DefaultMaxViews
	}
	if l.MaxViewBytes <= 0 {
		l.MaxViewBytes = DefaultMaxViewBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if l.MinBlobBytes <= 0 {
		l.MinBlobBytes = DefaultMinBlobBytes
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultMaxTextBytes
	}
	if l.Passwords == nil {
		l.Passwords = []archive.Passwords{archive.Builtin()}
	}
	return l
}

// Decoder makes the views of the files of one scan, within one budget.
// It is not safe for concurrent use.
type Decoder struct {
	lim      Limits
	views    int
	bytes    int64
	findings []contract.Finding
	tripped  map[string]bool
	outer    []string // names of the views being decoded in turn, outermost first
}

// NewDecoder returns a decoder with the budget lim.
func NewDecoder(lim Limits) *Decoder {
	return &Decoder{lim: lim.WithDefaults(), tripped: map[string]bool{}}
}

// Findings returns one finding per limit that tripped, each saying what
// was not decoded: CodeViewsLimit, whose effect is unscanned as for
// archive limits, or the informational CodeViewsTextLimit.
func (d *Decoder) Findings() []contract.Finding { return d.findings }

func (d *Decoder) trip(key, msg string) {
	if d.tripped[key] {
		return
	}
	d.tripped[key] = true
	d.findings = append(d.findings, contract.Finding{Code: CodeViewsLimit, Effect: contract.VerdictUnscanned, Message: msg})
}

// note records the informational finding that a text was searched in part.
func (d *Decoder) note(msg string) {
	if d.tripped["text"] {
		return
	}
	d.tripped["text"] = true
	d.findings = append(d.findings, contract.Finding{Code: CodeViewsTextLimit, Message: msg})
}

// sniffSize is how much of a file Decode reads to choose a decoder: PDF
// readers accept the header anywhere in the first 1024 bytes.
const sniffSize = 1024

// Decode passes the views of the file in src (size bytes) to fn, and the
// views of those views, to MaxDepth. It reads nothing beyond the first
// bytes of a file type without views: OLE files and PDFs are decoded, and
// text (no NUL byte and few control characters in the first KiB, or
// UTF-16LE) is searched for blobs; anything else costs one read of 1 KiB.
// A damaged file yields the views decoded before the damage and no error:
// views are an extra look, and the raw bytes are scanned regardless. An
// error from fn, or the context's, stops Decode and is returned.
func (d *Decoder) Decode(ctx context.Context, src io.ReaderAt, size int64, fn func(View) error) error {
	return d.decode(ctx, src, size, 1, fn)
}

// oleSignature starts every compound file.
const oleSignature = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

// decode makes the views of src, which are at depth.
func (d *Decoder) decode(ctx context.Context, src io.ReaderAt, size int64, depth int, fn func(View) error) error {
	head := make([]byte, min(size, sniffSize))
	n, _ := src.ReadAt(head, 0)
	head = head[:n]
	// Each view is accounted for, cut to the room left, passed on, then
	// decoded itself. The decoders are handed the room left when they
	// start; the views of views made meanwhile can spend it, so it is
	// checked again here.
	emit := func(v View) error {
		views, bytes := d.room()
		if views <= 0 || bytes <= 0 {
			d.trip("count", fmt.Sprintf("more decoded views than the limit (%d views, %d bytes in all); some views were not made", d.lim.MaxViews, d.lim.MaxTotalBytes))
			return errStop
		}
		if int64(len(v.Data)) > bytes {
			v.Data = v.Data[:bytes]
			d.tripSize(v.Name)
		}
		d.views++
		d.bytes += int64(len(v.Data))
		if err := fn(v); err != nil {
			return err
		}
		return d.nested(ctx, v, depth, fn)
	}
	var err error
	switch {
	case bytes.HasPrefix(head, []byte(oleSignature)):
		if err = d.vba(src, size, emit); err == nil {
			err = d.oleEmbedded(src, size, emit)
		}
	case pdfHeader(head):
		err = d.pdf(ctx, src, size, emit)
	case size < int64(d.lim.MinBlobBytes):
		// too short to hold a blob
	default:
		if kind, skip := sniffText(head); kind != notText {
			err = d.blobs(ctx, src, size, kind, skip, emit)
		}
	}
	if errors.Is(err, errStop) {
		return nil // out of room: the finding says so
	}
	return err
}

// nested decodes the view v, made at depth, naming its views after it.
// Below MaxDepth it does not, and says so if v is an OLE file or a PDF,
// whose views would be lost; text is not searched there.
func (d *Decoder) nested(ctx context.Context, v View, depth int, fn func(View) error) error {
	if depth >= MaxDepth {
		head := v.Data[:min(len(v.Data), sniffSize)]
		if bytes.HasPrefix(head, []byte(oleSignature)) || pdfHeader(head) {
			d.trip("depth", fmt.Sprintf("a decoded view holds views nested deeper than %d (%s); they were not decoded",
				MaxDepth, strings.Join(append(d.outer, v.Name), "/")))
		}
		return nil
	}
	d.outer = append(d.outer, v.Name)
	defer func() { d.outer = d.outer[:len(d.outer)-1] }()
	return d.decode(ctx, bytes.NewReader(v.Data), int64(len(v.Data)), depth+1, func(c View) error {
		c.Name = v.Name + "/" + c.Name
		c.UnlockedBy = cmp.Or(c.UnlockedBy, v.UnlockedBy)
		return fn(c)
	})
}

func pdfHeader(head []byte) bool {
	for i := 0; i+5 <= len(head); i++ {
		if string(head[i:i+5]) == "%PDF-" {
			return true
		}
	}
	return false
}

func (d *Decoder) room() (views int, bytes int64) {
	return d.lim.MaxViews - d.views, min(d.lim.MaxViewBytes, d.lim.MaxTotalBytes-d.bytes)
}

func (d *Decoder) vba(src io.ReaderAt, size int64, fn func(View) error) error {
	views, bytes := d.room()
	if views <= 0 || bytes <= 0 {
		d.trip("count", fmt.Sprintf("more decoded views than the limit (%d views, %d bytes); VBA source was not decoded", d.lim.MaxViews, d.lim.MaxTotalBytes))
		return nil
	}
	total := d.lim.MaxTotalBytes - d.bytes
	mods, err := office.ReadVBA(src, size, office.VBALimits{MaxModules: views,
		MaxModuleBytes: int(d.lim.MaxViewBytes), MaxTotalBytes: int(total)})
	if errors.Is(err, office.ErrTooManyModules) {
		d.trip("count", fmt.Sprintf("more decoded views than the limit of %d; some VBA modules were not decoded", d.lim.MaxViews))
	}
	if errors.Is(err, office.ErrTooLarge) {
		d.trip("size", fmt.Sprintf("VBA source exceeds the limit of %d bytes per view, %d in all; the rest was not decoded", d.lim.MaxViewBytes, d.lim.MaxTotalBytes))
	}
	for _, m := range mods {
		if err := fn(View{Kind: KindVBA, Name: "vba:" + m.Name, Data: m.Source}); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) pdf(ctx context.Context, src io.ReaderAt, size int64, fn func(View) error) error {
	views, _ := d.room()
	lim := pdf.StreamLimits{MaxStreams: views, MaxStreamBytes: d.lim.MaxViewBytes, MaxTotalBytes: d.lim.MaxTotalBytes - d.bytes}
	sec, err := pdf.Encryption(ctx, src, size)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	unlockedBy := ""
	switch {
	case err != nil:
		d.locked(fmt.Sprintf("an encrypted PDF (%s) cannot be opened: %s; its streams were not decoded",
			d.where(), strings.TrimPrefix(err.Error(), "pdf: ")))
		return nil
	case sec != nil:
		dec, source, ok := sec.Unlock(d.lim.Passwords)
		if !ok {
			d.locked(fmt.Sprintf("a PDF (%s) is encrypted (%s) and neither the empty password nor any known password opens it; its streams were not decoded",
				d.where(), sec.Method()))
			return nil
		}
		lim.Decrypter, unlockedBy = dec, source
	}
	err = pdf.Streams(ctx, src, size, lim, func(s pdf.Stream) error {
		obj := "?"
		if s.Object >= 0 {
			obj = strconv.Itoa(s.Object)
		}
		v := View{Kind: KindPDFStream, Name: "pdf:obj " + obj, Data: s.Data, UnlockedBy: unlockedBy}
		switch {
		case s.Embedded:
			v.Kind, v.Name = KindEmbedded, "pdf:embedded "+cmp.Or(fileName(s.FileName), "obj "+obj)
		case s.ObjStm:
			v.Name = "pdf:objstm " + obj
		}
		if s.Truncated {
			d.tripSize(v.Name)
		}
		return fn(v)
	})
	if errors.Is(err, pdf.ErrStreamLimit) {
		d.trip("count", fmt.Sprintf("more decoded views than the limit (%d views, %d bytes in all); some PDF streams or embedded files were not decoded", d.lim.MaxViews, d.lim.MaxTotalBytes))
		return nil
	}
	return err
}

// locked records that an encrypted PDF stayed closed, once per file.
func (d *Decoder) locked(msg string) {
	for _, f := range d.findings {
		if f.Message == msg {
			return
		}
	}
	d.findings = append(d.findings, contract.Finding{Code: CodeEncrypted, Effect: contract.VerdictUnscanned, Message: msg})
}

// where names the file being decoded: the view it is in, or the file
// itself.
func (d *Decoder) where() string {
	if len(d.outer) == 0 {
		return "the file"
	}
	return strings.Join(d.outer, "/")
}

func (d *Decoder) tripSize(name string) {
	d.trip("size", fmt.Sprintf("a decoded view exceeds the limit (%s; %d bytes per view, %d in all); the rest was not decoded", name, d.lim.MaxViewBytes, d.lim.MaxTotalBytes))
}

// oleEmbedded passes the files embedded as OLE objects in a compound file.
func (d *Decoder) oleEmbedded(src io.ReaderAt, size int64, fn func(View) error) error {
	views, bytes := d.room()
	countMsg := fmt.Sprintf("more decoded views than the limit (%d views, %d bytes in all); some embedded files were not read", d.lim.MaxViews, d.lim.MaxTotalBytes)
	lim := office.EmbeddedLimits{MaxObjects: max(views, 1), MaxObjectBytes: max(bytes, 1), MaxTotalBytes: max(d.lim.MaxTotalBytes-d.bytes, 1)}
	var fnErr error
	err := office.ReadEmbedded(src, size, lim, func(e office.Embedded) error {
		v := View{Kind: KindEmbedded, Name: "ole:embedded " + cmp.Or(fileName(e.Name), printable(e.Path)), Data: e.Data}
		if e.Truncated {
			d.tripSize(v.Name)
		}
		fnErr = fn(v)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if errors.Is(err, office.ErrTooManyObjects) {
		d.trip("count", countMsg)
	}
	return nil // damage: the objects before it were passed
}

// blobs passes the base64 and hex blobs of a text.
func (d *Decoder) blobs(ctx context.Context, src io.ReaderAt, size int64, kind textKind, skip int, fn func(View) error) error {
	n := min(size, d.lim.MaxTextBytes)
	if size > n {
		d.note(fmt.Sprintf("text beyond the first %d bytes was not searched for base64 and hex blobs", n))
	}
	f := newBlobFinder(d.lim.MinBlobBytes, d.lim.MaxViewBytes, func(b blob) error {
		if views, bytes := d.room(); views <= 0 || bytes <= 0 {
			d.trip("count", fmt.Sprintf("more decoded views than the limit (%d views, %d bytes in all); some base64 and hex blobs were not decoded", d.lim.MaxViews, d.lim.MaxTotalBytes))
			return errStop
		}
		v := View{Kind: b.kind, Name: b.kind + "@" + strconv.FormatInt(b.offset, 10), Data: b.data}
		if b.truncated {
			d.tripSize(v.Name)
		}
		return fn(v)
	})
	return findBlobs(ctx, io.NewSectionReader(src, int64(skip), n-int64(skip)), kind, int64(skip), f)
}

// fileName reduces the name an embedded file is given to something safe
// to show: its last path element, with control and invisible formatting
// characters (a right-to-left override that makes "exe.txt" of
// "txt.exe") replaced by "_", at most 64 characters.
func fileName(s string) string {
	s = s[strings.LastIndexAny(s, `/\`)+1:]
	var b strings.Builder
	for i, r := range []rune(s) {
		if i == 64 {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			r = '_'
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// printable keeps a compound file's stream path to printable characters.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}
