// Package reputation is the hash-reputation scan engine: it judges a file
// by its SHA-256, SHA-1 and MD5 alone, against lists of known-bad hashes.
//
// Lists are MalwareBazaar CSV exports (comment lines start with '#', the
// last of them may name the columns; rows are quoted, comma separated) or
// plain lists with one hash per line, optionally followed by a threat name.
// Both may be mixed in one file. A "# list: NAME" comment names the list;
// otherwise a MalwareBazaar export is "MalwareBazaar" and any other file is
// named after its base name.
//
// The engine polls its files and swaps in a new immutable index when one
// changes; a list that fails to load leaves the previous index in force.
package reputation

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/scan"
)

// EngineVersion is the version of this engine's matching logic.
const EngineVersion = "intellidox-reputation/1"

// Config sets up the engine.
type Config struct {
	Paths []string      // list files
	Poll  time.Duration // how often Watch checks the files; 2 s by default
	Log   *slog.Logger
	// Members bounds the archive members whose SHA-256 is looked up (depth,
	// count, bytes expanded; zero fields take archive's defaults, the bytes
	// MaxMemberBytes). Archives are read for that; other files never are.
	Members archive.Limits
	// MaxArchiveSize is the largest archive whose members are looked up;
	// larger ones are judged by their own hashes only. Default 512 MiB.
	MaxArchiveSize int64
	TempDir        string // where archives are staged; os.TempDir() by default
}

// Defaults for the member lookups.
const (
	DefaultMaxArchiveSize = 512 << 20
	DefaultMaxMemberBytes = 512 << 20
)

// Engine matches hashes against the loaded lists.
type Engine struct {
	cfg   Config
	index atomic.Pointer[index]
}

// index is one immutable generation of the lists.
type index struct {
	sha256  map[[32]byte]uint32 // → position in names
	sha1    map[[20]byte]uint32
	md5     map[[16]byte]uint32
	names   []string      // threat names, interned
	version string        // "list-<hash of the files' contents>"
	stamps  []os.FileInfo // what the files looked like when loaded
	entries int
}

// New loads the lists; it fails if they cannot be loaded.
func New(cfg Config) (*Engine, error) {
	if len(cfg.Paths) == 0 {
		return nil, errors.New("reputation: no list files configured")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxArchiveSize <= 0 {
		cfg.MaxArchiveSize = DefaultMaxArchiveSize
	}
	if cfg.Members.MaxUncompressedSize <= 0 {
		cfg.Members.MaxUncompressedSize = DefaultMaxMemberBytes
	}
	cfg.Members = cfg.Members.WithDefaults()
	e := &Engine{cfg: cfg}
	idx, err := load(cfg.Paths)
	if err != nil {
		return nil, err
	}
	e.index.Store(idx)
	return e, nil
}

// Name implements scan.Engine.
func (e *Engine) Name() string { return "reputation" }

// ContentFree implements scan.ContentFree: the object is not read, except
// for archives (NeedsContent).
func (e *Engine) ContentFree() bool { return true }

// NeedsContent implements scan.ContentFor: archives are read, to look up
// their members' hashes, when they are small enough.
func (e *Engine) NeedsContent(f scan.File) bool {
	return IsArchive(f.MIMEType) && f.Size <= e.cfg.MaxArchiveSize
}

// IsArchive reports whether a detected MIME type is one whose members the
// engine looks up: zip (and the formats built on it), 7z, RAR, tar, gzip.
func IsArchive(mime string) bool {
	mime, _, _ = strings.Cut(mime, ";")
	switch mime {
	case "application/x-7z-compressed", "application/vnd.rar", "application/x-rar-compressed",
		"application/x-tar", "application/gzip", "application/x-gzip", "application/java-archive":
		return true
	}
	return strings.Contains(mime, "zip") || strings.HasPrefix(mime, "application/vnd.openxmlformats-officedocument.") ||
		strings.Contains(mime, "macroEnabled")
}

// Versions implements scan.Engine. The signature version is a hash of the
// lists' contents, so editing a list makes earlier results stale.
func (e *Engine) Versions(context.Context) (string, string, error) {
	return EngineVersion, e.index.Load().version, nil
}

// Entries returns how many hashes the current lists hold.
func (e *Engine) Entries() int { return e.index.Load().entries }

// Scan implements scan.Engine. It judges f by its hashes, and an archive
// (when NeedsContent) also by the SHA-256 of each member, read from r.
func (e *Engine) Scan(ctx context.Context, r io.Reader, f scan.File) (scan.Finding, error) {
	idx := e.index.Load()
	var members *memberResult
	if e.NeedsContent(f) && r != nil {
		m, err := e.members(ctx, r, idx, f.Passwords)
		if err != nil {
			return scan.Finding{}, err
		}
		members = m
	}
	var threats, hits, missing []string
	check := func(kind, h string, lookup func([]byte) (uint32, bool)) {
		if h == "" {
			missing = append(missing, kind)
			return
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			missing = append(missing, kind)
			return
		}
		if i, ok := lookup(b); ok {
			hits = append(hits, kind)
			if !slices.Contains(threats, idx.names[i]) {
				threats = append(threats, idx.names[i])
			}
		}
	}
	check("sha256", f.SHA256, func(b []byte) (uint32, bool) { i, ok := idx.sha256[[32]byte(pad(b, 32))]; return i, ok })
	check("sha1", f.SHA1, func(b []byte) (uint32, bool) { i, ok := idx.sha1[[20]byte(pad(b, 20))]; return i, ok })
	check("md5", f.MD5, func(b []byte) (uint32, bool) { i, ok := idx.md5[[16]byte(pad(b, 16))]; return i, ok })
	var parts []string
	if len(threats) > 0 {
		parts = append(parts, fmt.Sprintf("known-bad hash (%s) in %s", strings.Join(hits, ", "), idx.version))
	}
	if members != nil {
		for _, h := range members.hits {
			where := "archive member " + h.path
			if h.unlockedBy != "" {
				where += " (opened with the " + h.unlockedBy + " password list)"
			}
			parts = append(parts, fmt.Sprintf("known-bad sha256 of %s: %s", where, h.threat))
			if !slices.Contains(threats, h.threat) {
				threats = append(threats, h.threat)
			}
		}
	}
	if len(threats) > 0 {
		if members != nil {
			parts = append(parts, members.summary())
		}
		return scan.Finding{Outcome: contract.Malicious, Threats: threats, Detail: strings.Join(parts, "; ")}, nil
	}
	detail := fmt.Sprintf("no listed hash among %d entries", idx.entries)
	if len(missing) > 0 {
		detail += "; not checked: " + strings.Join(missing, ", ") + " (not in the event)"
	}
	if members != nil {
		detail += "; " + members.summary()
	}
	return scan.Finding{Outcome: contract.Clean, Threats: []string{}, Detail: detail}, nil
}

// memberResult is what the member lookups of one archive found.
type memberResult struct {
	checked int
	hits    []memberHit
	limits  []contract.Finding
}

type memberHit struct {
	path, unlockedBy, threat string
}

func (m *memberResult) summary() string {
	s := fmt.Sprintf("%d archive members looked up", m.checked)
	for _, l := range m.limits {
		s += "; members not looked up: " + l.Message
	}
	return s
}

// members stages the archive in r (archives need random access) and looks
// up the SHA-256 of each member archive.WalkMembers reaches within the
// limits. A member that cannot be looked up (encrypted with no known
// password, past a limit) is named in the detail; it does not make the
// result a skip, because the engine's own judgement, by the archive's
// hashes, is complete, and the rule engines report what they could not see.
func (e *Engine) members(ctx context.Context, r io.Reader, idx *index, passwords []archive.Passwords) (*memberResult, error) {
	f, err := os.CreateTemp(e.cfg.TempDir, "reputation-*")
	if err != nil {
		return nil, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(r, e.cfg.MaxArchiveSize+1))
	if err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	res := &memberResult{}
	if n > e.cfg.MaxArchiveSize {
		res.limits = append(res.limits, contract.Finding{Code: archive.CodeTooLarge,
			Message: fmt.Sprintf("the archive is larger than %d bytes", e.cfg.MaxArchiveSize)})
		return res, nil
	}
	lim := e.cfg.Members
	if passwords != nil {
		lim.Passwords = passwords
	}
	err = archive.WalkMembers(ctx, f, n, lim, func(m archive.Member) error {
		h := sha256.New()
		if _, err := io.Copy(h, m.Body); err != nil {
			return err
		}
		res.checked++
		if i, ok := idx.sha256[[32]byte(h.Sum(nil))]; ok {
			res.hits = append(res.hits, memberHit{path: m.Path, unlockedBy: m.UnlockedBy, threat: idx.names[i]})
		}
		return nil
	})
	var limited *archive.LimitError
	switch {
	case errors.As(err, &limited):
		res.limits = limited.Findings
	case err != nil:
		return nil, err
	}
	return res, nil
}

// pad returns b if it has length n, else n zero bytes (which no list holds
// unless it lists an all-zero hash).
func pad(b []byte, n int) []byte {
	if len(b) == n {
		return b
	}
	return make([]byte, n)
}

// Watch polls the list files until ctx ends and reloads them when one
// changes. A failed reload is logged and the previous lists stay in force.
func (e *Engine) Watch(ctx context.Context) {
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := e.reloadIfChanged(); err != nil {
			e.cfg.Log.Error("reputation list reload failed; keeping the previous list",
				"err", err, "version", e.index.Load().version)
		}
	}
}

// Reload loads the lists now if they changed since the last load. It
// reports whether a new generation is in force.
func (e *Engine) Reload() (bool, error) { return e.reloadIfChanged() }

func (e *Engine) reloadIfChanged() (bool, error) {
	cur := e.index.Load()
	if !changed(cur.stamps, e.cfg.Paths) {
		return false, nil
	}
	idx, err := load(e.cfg.Paths)
	if err != nil {
		return false, err
	}
	if idx.version == cur.version {
		// Touched, not changed: remember the new stamps only.
		idx = &index{sha256: cur.sha256, sha1: cur.sha1, md5: cur.md5, names: cur.names,
			version: cur.version, stamps: idx.stamps, entries: cur.entries}
		e.index.Store(idx)
		return false, nil
	}
	e.index.Store(idx)
	e.cfg.Log.Info("reputation lists reloaded", "version", idx.version, "entries", idx.entries,
		"previous_version", cur.version)
	return true, nil
}

func changed(stamps []os.FileInfo, paths []string) bool {
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return true // gone or unreadable: the reload reports it
		}
		old := stamps[i]
		if !os.SameFile(old, st) || !old.ModTime().Equal(st.ModTime()) || old.Size() != st.Size() {
			return true
		}
	}
	return false
}

// load reads every list into a new index.
func load(paths []string) (*index, error) {
	idx := &index{sha256: map[[32]byte]uint32{}, sha1: map[[20]byte]uint32{}, md5: map[[16]byte]uint32{}}
	names := map[string]uint32{}
	intern := func(s string) uint32 {
		if i, ok := names[s]; ok {
			return i
		}
		i := uint32(len(idx.names))
		idx.names = append(idx.names, s)
		names[s] = i
		return i
	}
	h := sha256.New()
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reputation: %w", err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reputation: %w", err)
		}
		h.Write(b)
		h.Write([]byte{0})
		idx.stamps = append(idx.stamps, st)
		if err := parse(b, filepath.Base(p), func(hash, threat string) error {
			raw, err := hex.DecodeString(hash)
			if err != nil {
				return fmt.Errorf("not a hex hash: %q", hash)
			}
			name := intern(threat)
			switch len(raw) {
			case 32:
				idx.sha256[[32]byte(raw)] = name
			case 20:
				idx.sha1[[20]byte(raw)] = name
			case 16:
				idx.md5[[16]byte(raw)] = name
			default:
				return fmt.Errorf("hash %q is neither SHA-256, SHA-1 nor MD5", hash)
			}
			idx.entries++
			return nil
		}); err != nil {
			return nil, fmt.Errorf("reputation: %s: %w", p, err)
		}
	}
	idx.version = "list-" + hex.EncodeToString(h.Sum(nil))[:12]
	return idx, nil
}

// MalwareBazaar's export columns, in their default order.
var bazaarColumns = []string{"first_seen_utc", "sha256_hash", "md5_hash", "sha1_hash", "reporter",
	"file_name", "file_type_guess", "mime_type", "signature", "clamav", "vtpercent", "imphash", "ssdeep", "tlsh"}

// parse calls add for every hash in one list file.
func parse(b []byte, base string, add func(hash, threat string) error) error {
	list := strings.TrimSuffix(base, filepath.Ext(base))
	columns := bazaarColumns
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#"):
			c := strings.TrimSpace(strings.TrimLeft(line, "#"))
			switch {
			case strings.HasPrefix(strings.ToLower(c), "list:"):
				list = strings.TrimSpace(c[len("list:"):])
			case strings.Contains(c, "MalwareBazaar") && list == strings.TrimSuffix(base, filepath.Ext(base)):
				list = "MalwareBazaar"
			case strings.Contains(c, "sha256_hash"):
				cols, err := csvRow(c)
				if err != nil {
					return fmt.Errorf("line %d: header: %w", n, err)
				}
				columns = cols
			}
			continue
		case strings.HasPrefix(line, `"`):
			if err := bazaarRow(line, columns, list, add); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
		default:
			hash, name, _ := strings.Cut(strings.ReplaceAll(line, "\t", " "), " ")
			hash = strings.ToLower(strings.TrimRight(hash, ","))
			name = strings.TrimSpace(name)
			threat := list + ":known-bad"
			if name != "" {
				threat = list + ":" + name
			}
			if err := add(hash, threat); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
		}
	}
	return sc.Err()
}

func csvRow(line string) ([]string, error) {
	r := csv.NewReader(strings.NewReader(line))
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	return r.Read()
}

func bazaarRow(line string, columns []string, list string, add func(hash, threat string) error) error {
	row, err := csvRow(line)
	if err != nil {
		return err
	}
	field := func(name string) string {
		i := slices.Index(columns, name)
		if i < 0 || i >= len(row) {
			return ""
		}
		v := strings.TrimSpace(row[i])
		if v == "n/a" {
			return ""
		}
		return v
	}
	threat := list + ":known-bad"
	if s := field("signature"); s != "" {
		threat = list + ":" + s
	}
	found := false
	for _, col := range []string{"sha256_hash", "sha1_hash", "md5_hash"} {
		if h := strings.ToLower(field(col)); h != "" {
			if err := add(h, threat); err != nil {
				return fmt.Errorf("%s: %w", col, err)
			}
			found = true
		}
	}
	if !found {
		return errors.New("row without any hash")
	}
	return nil
}
