// Package views decodes what a file hides from byte rules into views: the
// VBA source of Office documents (MS-OVBA-compressed in the file) and the
// inflated streams of PDFs (object streams included). A rule engine scans
// each view beside the raw bytes and names it in its detail, e.g.
// "vba:Module1". Views are made only for the file types that have them,
// and only when asked for: Decode sniffs the first bytes and returns at
// once for anything else.
package views

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/office"
	"github.com/intellidox/intellidox/internal/extract/pdf"
)

// Kinds of view. A YARA rule tells them apart by the external variable
// intellidox_view, which is "" for raw bytes.
const (
	KindVBA       = "vba"        // one VBA module's source
	KindPDFStream = "pdf-stream" // one inflated PDF stream
)

// CodeViewsLimit is the finding code when a limit kept some views from
// being made or cut one short.
const CodeViewsLimit = "views_limit"

// View is one decoded view of a file.
type View struct {
	Kind string
	// Name says where the view comes from: "vba:Module1",
	// "pdf:obj 12" (a stream), "pdf:objstm 5" (an object stream).
	Name string
	Data []byte
}

// Limits bound the views made for one scanned file, its archive members
// included. Zero fields take the defaults.
type Limits struct {
	MaxViews      int   // views made; default 1024
	MaxViewBytes  int64 // bytes per view; default 8 MiB
	MaxTotalBytes int64 // bytes over all views; default 64 MiB
}

// Defaults for Limits.
const (
	DefaultMaxViews      = 1024
	DefaultMaxViewBytes  = 8 << 20
	DefaultMaxTotalBytes = 64 << 20
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
}

// NewDecoder returns a decoder with the budget lim.
func NewDecoder(lim Limits) *Decoder {
	return &Decoder{lim: lim.WithDefaults(), tripped: map[string]bool{}}
}

// Findings returns one finding per limit that tripped, each saying what
// was not decoded; their effect is unscanned, as archive limits.
func (d *Decoder) Findings() []contract.Finding { return d.findings }

func (d *Decoder) trip(key, msg string) {
	if d.tripped[key] {
		return
	}
	d.tripped[key] = true
	d.findings = append(d.findings, contract.Finding{Code: CodeViewsLimit, Effect: contract.VerdictUnscanned, Message: msg})
}

// sniffSize is how much of a file Decode reads to choose a decoder: PDF
// readers accept the header anywhere in the first 1024 bytes.
const sniffSize = 1024

// Decode passes the views of the file in src (size bytes) to fn. It reads
// nothing beyond the first bytes of a file type without views. A damaged
// file yields the views decoded before the damage and no error: views are
// an extra look, and the raw bytes are scanned regardless. An error from
// fn, or the context's, stops Decode and is returned.
func (d *Decoder) Decode(ctx context.Context, src io.ReaderAt, size int64, fn func(View) error) error {
	head := make([]byte, min(size, sniffSize))
	n, _ := src.ReadAt(head, 0)
	head = head[:n]
	switch {
	case len(head) >= 8 && string(head[:8]) == "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
		return d.vba(src, size, fn)
	case pdfHeader(head):
		return d.pdf(ctx, src, size, fn)
	}
	return nil
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
		d.views++
		d.bytes += int64(len(m.Source))
		if err := fn(View{Kind: KindVBA, Name: "vba:" + m.Name, Data: m.Source}); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) pdf(ctx context.Context, src io.ReaderAt, size int64, fn func(View) error) error {
	views, _ := d.room()
	lim := pdf.StreamLimits{MaxStreams: views, MaxStreamBytes: d.lim.MaxViewBytes, MaxTotalBytes: d.lim.MaxTotalBytes - d.bytes}
	err := pdf.Streams(ctx, src, size, lim, func(s pdf.Stream) error {
		name := "pdf:obj "
		if s.ObjStm {
			name = "pdf:objstm "
		}
		if s.Object >= 0 {
			name += strconv.Itoa(s.Object)
		} else {
			name += "?"
		}
		if s.Truncated {
			d.trip("size", fmt.Sprintf("a decoded view exceeds the limit (%s; %d bytes per view, %d in all); the rest was not decoded", name, d.lim.MaxViewBytes, d.lim.MaxTotalBytes))
		}
		d.views++
		d.bytes += int64(len(s.Data))
		return fn(View{Kind: KindPDFStream, Name: name, Data: s.Data})
	})
	if errors.Is(err, pdf.ErrStreamLimit) {
		d.trip("count", fmt.Sprintf("more decoded views than the limit (%d views, %d bytes in all); some PDF streams were not inflated", d.lim.MaxViews, d.lim.MaxTotalBytes))
		return nil
	}
	return err
}
