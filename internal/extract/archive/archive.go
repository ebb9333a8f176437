// Package archive lists archives (zip, tar, gzip, 7z and RAR) and walks their
// members, recursing into nested archives within Limits. It serves two
// callers: Inspect and InspectStream produce the archive metadata of a file
// (entries, sizes, path-traversal flags, encrypted entries, nesting depth,
// compression ratio) and the findings of the limits that tripped; Walk hands
// each member to a scanner that does not unpack archives itself.
package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/intellidox/intellidox/internal/contract"
)

// Info is the archive metadata of a file (metadata["archive"]).
type Info struct {
	// Format is "zip", "tar", "gzip" (one compressed file), "tar.gz", "7z"
	// or "rar".
	Format string `json:"format"`
	// EntryCount counts the members of the archive itself; members of
	// nested archives are counted in NestedEntryCount.
	EntryCount       int `json:"entryCount"`
	NestedEntryCount int `json:"nestedEntryCount"`
	// TotalUncompressedSize sums the sizes of the archive's own members, as
	// declared by a zip or 7z directory, as counted for tar and gzip.
	TotalUncompressedSize int64 `json:"totalUncompressedSize"`
	// CompressionRatio is TotalUncompressedSize over the size of the file.
	CompressionRatio float64 `json:"compressionRatio"`
	// NestingDepth is the deepest archive level opened: 1 for an archive
	// without nested archives.
	NestingDepth int `json:"nestingDepth"`
	// EncryptedEntries counts encrypted members that no password opened,
	// at every level; UnlockedEntries those a password list opened.
	EncryptedEntries int `json:"encryptedEntries"`
	UnlockedEntries  int `json:"unlockedEntries,omitempty"`
	// PathTraversal is true if any member could be written outside the
	// extraction directory: "..", absolute paths, drive letters, or a path
	// under a link that points outside.
	PathTraversal bool `json:"pathTraversal"`
	// Entries lists the first MaxListedEntries members, at every level, in
	// the order visited; EntriesTruncated says that there were more.
	Entries          []Entry `json:"entries"`
	EntriesTruncated bool    `json:"entriesTruncated"`
}

// Entry is one archive member.
type Entry struct {
	// Path is the member's name, prefixed for nested archives with the path
	// of the archive that holds it: "inner.zip/docs/a.txt".
	Path           string `json:"path"`
	Size           int64  `json:"size"`
	CompressedSize int64  `json:"compressedSize,omitempty"` // zip and 7z only
	Dir            bool   `json:"dir,omitempty"`
	Encrypted      bool   `json:"encrypted,omitempty"`
	// UnlockedBy names the password list that opened an encrypted member
	// ("builtin"); never the password.
	UnlockedBy string `json:"unlockedBy,omitempty"`
	// Flags name what is notable about the member: "dotdot", "absolute",
	// "driveLetter", "throughLink" (path traversal: the last is a member
	// written under a link that points outside the archive), "symlink",
	// "hardlink", "linkEscapes" (a link pointing outside the archive, common
	// and harmless on its own in system tarballs), "archive" (a nested archive that
	// was opened), "notInspected" (a member whose content could not be read:
	// unsupported compression, a limit).
	Flags []string `json:"flags,omitempty"`
}

// MaxListedEntries bounds Info.Entries.
const MaxListedEntries = 100

// bombMinSize is the uncompressed size below which a high compression ratio
// is not reported as a bomb: a 2 MiB log that compresses 200 times is
// harmless.
const bombMinSize = 32 << 20

// Finding codes.
const (
	CodeZipBomb           = "zip_bomb"
	CodeTooDeep           = "archive_too_deep"
	CodeTooManyEntries    = "too_many_entries"
	CodeTooLarge          = "uncompressed_too_large"
	CodeNestedTooLarge    = "nested_archive_not_inspected"
	CodeEncrypted         = "encrypted_entries"
	CodeUnsupported       = "unsupported_compression"
	CodePathTraversal     = "path_traversal"
	CodeMalformed         = "archive_malformed"
	CodeAnalysisCancelled = "analysis_timeout"
	// CodeDictionaryTooLarge: a decoder would allocate more than
	// MaxDictionarySize.
	CodeDictionaryTooLarge = "dictionary_too_large"
	// CodeKeyDerivation: an encrypted archive asks for more key-derivation
	// work per password than MaxKeyDerivationPower allows.
	CodeKeyDerivation = "key_derivation_too_costly"
)

// LimitError is returned by Walk when limits kept it from some members. The
// members it could reach were still passed to fn.
type LimitError struct {
	Findings []contract.Finding
}

func (e *LimitError) Error() string {
	codes := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		codes[i] = f.Code
	}
	return "archive: not every member was walked: " + strings.Join(codes, ", ")
}

// errStop ends a walk early: a limit that makes going on pointless tripped.
var errStop = errors.New("archive: walk stopped by a limit")

// kind is what sniffing a member's first bytes found.
type kind int

const (
	kindOther kind = iota
	kindZip
	kindTar
	kindGzip
	kind7z
	kindRar
)

// sniffSize is how many leading bytes sniff needs (a tar header).
const sniffSize = 512

// sniff says which archive format b starts with.
func sniff(b []byte) kind {
	switch {
	case len(b) >= 4 && string(b[:4]) == "PK\x03\x04", len(b) >= 4 && string(b[:4]) == "PK\x05\x06":
		return kindZip
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return kindGzip
	case len(b) >= 6 && string(b[:6]) == "7z\xbc\xaf\x27\x1c":
		return kind7z
	case len(b) >= 7 && string(b[:7]) == "Rar!\x1a\x07\x00", len(b) >= 8 && string(b[:8]) == "Rar!\x1a\x07\x01\x00":
		return kindRar
	case isTar(b):
		return kindTar
	}
	return kindOther
}

// isTar checks the header checksum of a tar header, which every tar
// variant (v7, ustar, GNU, pax) carries.
func isTar(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	h := b[:512]
	field := strings.TrimRight(strings.TrimSpace(string(h[148:156])), "\x00 ")
	if field == "" {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var sum int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want && h[0] != 0
}

// walker walks one file's archives. Counters span every nesting level.
type walker struct {
	ctx      context.Context
	lim      Limits
	fileSize int64 // the size of the top-level file, for ratios

	entries      int             // members visited, all levels
	decompressed int64           // bytes out of decompressors, all levels
	declared     int64           // uncompressed bytes declared by zip and 7z directories, all levels
	buffered     int64           // bytes now held for nested zips
	depth        int             // deepest level opened
	sniffs       int             // zip members opened by Inspect to look for nested archives
	escapes      map[string]bool // tar links pointing outside the archive, by path

	info     *Info                // Inspect: what to fill in; nil for Walk
	fn       func(m Member) error // Walk: the callback; nil for Inspect
	findings []contract.Finding
	seen     map[string]bool // finding codes already recorded

	lastZip   *candidate // the password that last opened a zip member
	rarCostly bool       // a RAR's key derivation is over the limit: no password is tried
	rarKeys   int        // RAR 3/4 key derivations spent, all levels (MaxRARKeyDerivations)
	via       string     // the password list that opened the member being walked into
}

func newWalker(ctx context.Context, lim Limits, fileSize int64) *walker {
	return &walker{ctx: ctx, lim: lim.WithDefaults(), fileSize: max(fileSize, 1), seen: map[string]bool{}}
}

// finding records a finding once per code.
func (w *walker) finding(code string, effect contract.Verdict, format string, args ...any) {
	if w.seen[code] {
		return
	}
	w.seen[code] = true
	w.findings = append(w.findings, contract.Finding{Code: code, Message: fmt.Sprintf(format, args...), Effect: effect})
}

// enter accounts for opening an archive at depth, and reports whether that
// is allowed.
func (w *walker) enter(depth int, path string) bool {
	if depth > w.lim.MaxArchiveDepth {
		w.finding(CodeTooDeep, contract.VerdictUnscanned,
			"archives are nested deeper than %d levels (at %s); deeper levels were not inspected", w.lim.MaxArchiveDepth, path)
		return false
	}
	w.depth = max(w.depth, depth)
	return true
}

// entry accounts for one member and reports whether it may be visited.
func (w *walker) entry(e Entry, depth int) bool {
	if w.entries >= w.lim.MaxArchiveEntries {
		w.finding(CodeTooManyEntries, contract.VerdictUnscanned,
			"more than %d archive members; the rest were not inspected", w.lim.MaxArchiveEntries)
		return false
	}
	w.entries++
	if e.Encrypted {
		w.finding(CodeEncrypted, contract.VerdictUnscanned, "the archive has encrypted members (%s), whose content cannot be inspected", e.Path)
	}
	for _, f := range e.Flags {
		if f == "dotdot" || f == "absolute" || f == "driveLetter" || f == "throughLink" {
			w.finding(CodePathTraversal, contract.VerdictSuspicious,
				"member %q would be extracted outside the target directory", e.Path)
			break
		}
	}
	if w.info == nil {
		return true
	}
	if e.Encrypted {
		w.info.EncryptedEntries++
	}
	if e.UnlockedBy != "" {
		w.info.UnlockedEntries++
	}
	if traversal(e.Flags) {
		w.info.PathTraversal = true
	}
	if depth == 1 {
		w.info.EntryCount++
	} else {
		w.info.NestedEntryCount++
	}
	if len(w.info.Entries) < MaxListedEntries {
		w.info.Entries = append(w.info.Entries, e)
	} else {
		w.info.EntriesTruncated = true
	}
	return true
}

// flag adds a flag to the listed entry for path, if it is listed.
func (w *walker) flag(path, flag string) {
	if w.info == nil {
		return
	}
	for i := len(w.info.Entries) - 1; i >= 0; i-- {
		if w.info.Entries[i].Path == path {
			w.info.Entries[i].Flags = append(w.info.Entries[i].Flags, flag)
			return
		}
	}
}

// counter counts the bytes coming out of a decompressor against the limits.
type counter struct {
	w *walker
	r io.Reader
}

// errBudget is returned by counter once the decompression limits trip.
var errBudget = errors.New("archive: decompression limit reached")

func (c *counter) Read(p []byte) (int, error) {
	if err := c.w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.w.decompressed += int64(n)
	if c.w.checkBudget() {
		return n, errBudget
	}
	return n, err
}

// checkBudget reports whether decompression must stop, recording why.
func (w *walker) checkBudget() bool {
	ratio := float64(w.decompressed) / float64(w.fileSize)
	if w.decompressed > bombMinSize && ratio > w.lim.MaxCompressionRatio {
		w.finding(CodeZipBomb, contract.VerdictSuspicious,
			"decompression bomb: %d bytes decompressed from a %d-byte file (ratio over %.0f)", w.decompressed, w.fileSize, w.lim.MaxCompressionRatio)
		return true
	}
	if w.decompressed > w.lim.MaxUncompressedSize {
		w.finding(CodeTooLarge, contract.VerdictUnscanned,
			"more than %d bytes decompressed; the rest was not inspected", w.lim.MaxUncompressedSize)
		return true
	}
	return false
}

// checkDeclared records a bomb when directories declare far more than the
// file holds.
func (w *walker) checkDeclared() {
	ratio := float64(w.declared) / float64(w.fileSize)
	switch {
	case w.declared > bombMinSize && ratio > w.lim.MaxCompressionRatio:
		w.finding(CodeZipBomb, contract.VerdictSuspicious,
			"zip bomb: members declare at least %d bytes uncompressed in a %d-byte file (ratio %.0f, limit %.0f)", w.declared, w.fileSize, ratio, w.lim.MaxCompressionRatio)
	case w.declared > w.lim.MaxUncompressedSize:
		w.finding(CodeTooLarge, contract.VerdictUnscanned,
			"members declare %d bytes uncompressed, over the %d-byte limit; not all content can be inspected", w.declared, w.lim.MaxUncompressedSize)
	}
}

// stopped reports whether an error ends the whole walk.
func stopped(err error) bool {
	return errors.Is(err, errStop) || errors.Is(err, errBudget) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
