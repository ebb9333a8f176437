package extract

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gabriel-vasile/mimetype"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/extract/exe"
	"github.com/intellidox/intellidox/internal/extract/imagemeta"
	"github.com/intellidox/intellidox/internal/extract/office"
	"github.com/intellidox/intellidox/internal/extract/pdf"
	"github.com/intellidox/intellidox/internal/extract/text"
)

// format says how one type is analyzed beyond hashing and detection. A
// format has a streaming analyzer, which reads the body as it is hashed, or
// a random-access one, which runs after hashing on src, or neither.
type format struct {
	name   string
	stream func(ctx context.Context, r io.Reader, size int64, lim Limits, res *result)
	random func(ctx context.Context, src io.ReaderAt, size int64, lim Limits, res *result)
}

// formatOf returns how to analyze content detected as mt.
func formatOf(mt *mimetype.MIME) format {
	switch {
	case is(mt, "application/zip"), is(mt, "application/x-7z-compressed"), is(mt, "application/vnd.rar"), is(mt, "application/x-rar-compressed"):
		return format{name: "archive", random: zipLike}
	case is(mt, "application/gzip"), is(mt, "application/x-tar"):
		return format{name: "archive", stream: streamArchive}
	case is(mt, "application/pdf"):
		return format{name: "pdf", stream: streamPDF, random: unlockPDF}
	case is(mt, "application/x-ole-storage"):
		return format{name: "office", random: readOLE}
	case executable(mt):
		return format{name: "executable", random: readExe}
	case is(mt, "image/jpeg"), is(mt, "image/png"), is(mt, "image/gif"), is(mt, "image/webp"), is(mt, "image/tiff"):
		return format{name: "image", random: readImage}
	case is(mt, "text/plain"):
		return format{name: "text", stream: scanText}
	}
	return format{}
}

func streamArchive(ctx context.Context, r io.Reader, size int64, lim Limits, res *result) {
	info, fs := archive.InspectStream(ctx, r, size, lim.Limits)
	if info != nil {
		res.set("archive", info)
		if info.Format == "tar.gz" {
			res.describe("gzip compressed tar archive")
			res.refine("application/gzip", ".tar.gz")
		}
	}
	res.add(fs...)
}

// zipLike analyzes zip-based formats: every zip is listed as an archive,
// and OOXML documents also get their document properties.
func zipLike(ctx context.Context, src io.ReaderAt, size int64, lim Limits, res *result) {
	info, fs := archive.Inspect(ctx, src, size, lim.Limits)
	if info != nil {
		res.set("archive", info)
	}
	res.add(fs...)
	zr, err := archive.OpenZip(src, size, lim.Limits)
	if err != nil {
		return
	}
	if doc := office.ReadOOXML(zr); doc != nil {
		res.set("office", doc)
		if m, ext := doc.MIME(); m != "" {
			res.refine(m, ext)
		}
		if d := doc.Description(); d != "" {
			res.describe(d)
		}
	}
}

func readOLE(_ context.Context, src io.ReaderAt, size int64, _ Limits, res *result) {
	doc, err := office.ReadOLE(src, size)
	if doc != nil {
		res.set("office", doc)
		if d := doc.Description(); d != "" {
			res.describe(d)
		}
		if doc.Encrypted {
			res.finding("encrypted_document", contract.VerdictUnscanned,
				"the Office document is password-protected: its content, macros included, cannot be inspected")
		}
	}
	if err != nil {
		res.finding("office_malformed", "", "the compound file directory could not be read to its end: "+err.Error())
	}
}

func streamPDF(ctx context.Context, r io.Reader, _ int64, lim Limits, res *result) {
	info, fs := pdf.Scan(ctx, r, lim.MaxUncompressedSize)
	res.set("pdf", info)
	res.add(fs...)
	if info.Version != "" {
		res.describe("PDF document, version " + info.Version)
	}
}

// unlockPDF opens an encrypted PDF that streamPDF found, with the empty
// user password or one of the password lists, and reads it again
// decrypted. A PDF that stays locked, or whose security handler is not
// supported, is unscanned with the reason.
func unlockPDF(ctx context.Context, src io.ReaderAt, size int64, lim Limits, res *result) {
	res.mu.Lock()
	info, _ := res.meta["pdf"].(*pdf.Info)
	res.mu.Unlock()
	if info == nil || !info.Encrypted {
		return
	}
	sec, err := info.Security()
	if err != nil {
		res.finding("encrypted_document", contract.VerdictUnscanned,
			"the PDF is encrypted and cannot be opened: "+strings.TrimPrefix(err.Error(), "pdf: "))
		return
	}
	dec, source, ok := sec.Unlock(lim.Passwords)
	if !ok {
		res.finding("encrypted_document", contract.VerdictUnscanned, fmt.Sprintf(
			"the PDF is encrypted (%s) and neither the empty password nor any known password opens it: its content cannot be inspected", sec.Method()))
		return
	}
	opened, fs := pdf.ScanDecrypted(ctx, io.NewSectionReader(src, 0, size), lim.MaxUncompressedSize, dec)
	opened.Decrypted, opened.UnlockedBy = true, source
	opened.Damaged = opened.Damaged || info.Damaged
	res.set("pdf", opened)
	res.add(fs...)
}

func readImage(_ context.Context, src io.ReaderAt, size int64, _ Limits, res *result) {
	info, err := imagemeta.Read(src, size)
	if info != nil {
		res.set("image", info)
	}
	if err != nil {
		res.finding("image_malformed", "", "the image header could not be read: "+err.Error())
	}
}

func readExe(_ context.Context, src io.ReaderAt, size int64, _ Limits, res *result) {
	info, err := exe.Read(src, size)
	if err != nil {
		res.finding("executable_malformed", "", "the executable headers could not be read: "+err.Error())
		return
	}
	res.set("executable", info)
	res.describe(info.Description())
}

func scanText(ctx context.Context, r io.Reader, _ int64, _ Limits, res *result) {
	info, _ := text.Scan(ctx, r)
	res.set("text", info)
}
