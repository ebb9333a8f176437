// Package yara is the YARA scan engine. It runs the yara command-line tool
// on rules that yarac compiled once at start; see docs/engines.md for why it
// does not link libyara. YARA needs the whole file, so the object is
// streamed to a temporary file first, and archive members (OOXML documents
// and jars are zips too) are extracted beside it by archive.Walk and
// scanned as well: YARA does not unpack archives. Decoded views (VBA
// source, inflated PDF streams, files embedded in PDFs and OLE files,
// base64 and hex blobs of text; see internal/extract/views) are staged and
// scanned too, with the external variable intellidox_view naming the kind
// of view, so that rules can be written for them alone.
package yara

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/extract/views"
	"github.com/intellidox/intellidox/internal/scan"
)

// Config sets up the engine. Zero values take the defaults.
type Config struct {
	RulesDir string // directory of *.yar files: the rule pack
	Yara     string // yara binary; "yara" on PATH by default
	Yarac    string // yarac binary; "yarac" on PATH by default
	TempDir  string // where objects are staged; os.TempDir() by default
	// MaxSize is the largest object scanned; larger ones are skipped as too
	// large without being read. Default 512 MiB.
	MaxSize int64
	// Archive bounds member extraction (depth, members, bytes expanded);
	// zero fields take archive's defaults, except MaxUncompressedSize, which
	// defaults to MaxSize since the members are staged on disk too.
	Archive archive.Limits
	// Views bounds the decoded views (VBA source, inflated PDF streams,
	// embedded files, blobs) made for one object and its members; zero
	// fields take the defaults.
	Views views.Limits
	// RawOnly scans the raw bytes and members only, without decoded views:
	// it shows what the views add, and is no setting for production.
	RawOnly bool
	// Helper, when set, is tools/yara-helper: libyara in long-lived
	// processes (helper.go) instead of a yara process per scan.
	Helper string
}

// Engine scans with the project's rule pack.
type Engine struct {
	cfg      Config
	helpers  *helpers // nil: the yara CLI
	compiled string   // compiled rules, in a private temporary directory
	version  string   // yara's version, e.g. "4.2.3"
	sigs     string   // "rules-<hash of the pack>"
}

// New compiles the rule pack and returns the engine. Close removes the
// compiled rules.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Yara == "" {
		cfg.Yara = "yara"
	}
	if cfg.Yarac == "" {
		cfg.Yarac = "yarac"
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 512 << 20
	}
	if cfg.Archive.MaxUncompressedSize <= 0 {
		cfg.Archive.MaxUncompressedSize = cfg.MaxSize
	}
	cfg.Archive = cfg.Archive.WithDefaults()
	files, err := filepath.Glob(filepath.Join(cfg.RulesDir, "*.yar"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("yara: no rules (*.yar) in %q", cfg.RulesDir)
	}
	slices.Sort(files)
	sigs, err := packVersion(files)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, cfg.Yara, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("yara: %s --version: %w", cfg.Yara, err)
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "yara-rules-")
	if err != nil {
		return nil, fmt.Errorf("yara: %w", err)
	}
	e := &Engine{cfg: cfg, compiled: filepath.Join(dir, "rules.yarc"),
		version: strings.TrimSpace(string(out)), sigs: sigs}
	// Rules tell raw bytes from a decoded view by this external variable:
	// "raw" as compiled, the view's kind when a view is scanned.
	args := append([]string{"-d", viewVar + "=" + rawKind}, files...)
	args = append(args, e.compiled)
	if msg, err := exec.CommandContext(ctx, cfg.Yarac, args...).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("yara: compiling %s: %v\n%s", cfg.RulesDir, err, msg)
	}
	if cfg.Helper != "" {
		// One empty request proves the helper runs here (libyara present,
		// the compiled rules readable) before any file depends on it.
		e.helpers = &helpers{bin: cfg.Helper, rules: e.compiled}
		if _, err := e.helpers.scan(ctx, rawKind, []string{}); err != nil {
			e.Close()
			return nil, fmt.Errorf("yara: helper %s: %w", cfg.Helper, err)
		}
	}
	return e, nil
}

// Close stops the helpers and removes the compiled rules.
func (e *Engine) Close() error {
	if e.helpers != nil {
		e.helpers.close()
	}
	return os.RemoveAll(filepath.Dir(e.compiled))
}

// packVersion hashes the rule files' names and contents.
func packVersion(files []string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("yara: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	return "rules-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// Name implements scan.Engine.
func (e *Engine) Name() string { return "yara" }

// Versions implements scan.Engine: the rule pack is compiled once, so both
// versions are fixed for the life of the process.
func (e *Engine) Versions(context.Context) (string, string, error) { return e.version, e.sigs, nil }

// viewVar is the external variable that names what a rule is looking at:
// rawKind for the object and its archive members, else the kind of view
// (views.KindVBA, KindPDFStream, KindEmbedded, KindBase64, KindHex).
const (
	viewVar = "intellidox_view"
	rawKind = "raw"
)

// target is one file handed to yara: the object, an archive member or a
// decoded view of either.
type target struct {
	path  string
	label string // "" for the object itself, else the member's or view's name
	kind  string // "" for raw bytes, else the view's kind
	// unlockedBy names the password list that opened the member.
	unlockedBy string
}

// Scan implements scan.Engine.
func (e *Engine) Scan(ctx context.Context, r io.Reader, f scan.File) (scan.Finding, error) {
	if f.Size > e.cfg.MaxSize {
		return scan.Skip(scan.ReasonTooLarge, fmt.Sprintf("%d bytes exceeds the yara engine's limit of %d bytes", f.Size, e.cfg.MaxSize)), nil
	}
	dir, err := os.MkdirTemp(e.cfg.TempDir, "yara-scan-")
	if err != nil {
		return scan.Finding{}, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
	}
	defer os.RemoveAll(dir)
	obj := filepath.Join(dir, "object")
	n, err := stage(obj, r, e.cfg.MaxSize)
	if err != nil {
		return scan.Finding{}, err
	}
	if n > e.cfg.MaxSize {
		return scan.Skip(scan.ReasonTooLarge, fmt.Sprintf("more than %d bytes, the yara engine's limit", e.cfg.MaxSize)), nil
	}
	members, limits, err := e.extract(ctx, obj, dir, n, f.Passwords)
	if err != nil {
		return scan.Finding{}, err
	}
	targets := append([]target{{path: obj}}, members...)
	if !e.cfg.RawOnly {
		vs, vlimits, err := e.decode(ctx, dir, targets, f.Passwords)
		if err != nil {
			return scan.Finding{}, err
		}
		targets = append(targets, vs...)
		limits = append(limits, vlimits...)
	}
	matches, err := e.run(ctx, dir, targets)
	if err != nil {
		return scan.Finding{}, err
	}
	return judge(matches, limits, len(members), len(targets)-1-len(members)), nil
}

// decode writes the decoded views of the object and its members beside
// them, within the engine's view limits, and returns them with the limits
// that tripped. Only OLE files, PDFs and text have views; for others
// decode reads their first bytes and moves on.
func (e *Engine) decode(ctx context.Context, dir string, targets []target, passwords []archive.Passwords) ([]target, []contract.Finding, error) {
	lim := e.cfg.Views
	if passwords != nil {
		lim.Passwords = passwords
	}
	d := views.NewDecoder(lim)
	var out []target
	for _, t := range targets {
		f, err := os.Open(t.path)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
		}
		err = d.Decode(ctx, f, st.Size(), func(v views.View) error {
			path := filepath.Join(dir, fmt.Sprintf("view-%05d", len(out)))
			if err := os.WriteFile(path, v.Data, 0o600); err != nil {
				return fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
			}
			label := v.Name
			if t.label != "" {
				label = t.label + "/" + v.Name
			}
			out = append(out, target{path: path, label: label, kind: v.Kind, unlockedBy: cmp.Or(v.UnlockedBy, t.unlockedBy)})
			return nil
		})
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return out, d.Findings(), nil
}

// stage copies at most limit+1 bytes of r to path and returns how many.
func stage(path string, r io.Reader, limit int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if cerr := f.Close(); err == nil && cerr != nil {
		return n, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, cerr)
	}
	if err != nil {
		return n, fmt.Errorf("read object: %w", err)
	}
	return n, nil
}

// extract writes the members of an archive object (zip, tar, gzip, 7z,
// RAR, nested within limits; encrypted ones opened with the password
// lists of the file, the built-in one when it has none) beside it, through archive.WalkMembers. It returns the members
// and the limits that kept it from others.
func (e *Engine) extract(ctx context.Context, obj, dir string, size int64, passwords []archive.Passwords) ([]target, []contract.Finding, error) {
	f, err := os.Open(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
	}
	defer f.Close()
	var out []target
	lim := e.cfg.Archive
	if passwords != nil {
		lim.Passwords = passwords
	}
	err = archive.WalkMembers(ctx, f, size, lim, func(m archive.Member) error {
		path := filepath.Join(dir, fmt.Sprintf("member-%05d", len(out)))
		if err := writeMember(path, m.Body); err != nil {
			return err
		}
		out = append(out, target{path: path, label: m.Path, unlockedBy: m.UnlockedBy})
		return nil
	})
	var limited *archive.LimitError
	switch {
	case errors.As(err, &limited):
		return out, limited.Findings, nil
	case err != nil:
		return nil, nil, err
	}
	return out, nil, nil
}

// writeMember stages one member. Errors reading body are returned as they
// are, so that Walk can tell a damaged member from a failing disk.
func writeMember(path string, body io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
	}
	_, err = io.Copy(f, body)
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, cerr)
	}
	return err
}

// match is one rule that matched one target.
type match struct {
	rule, severity, label, unlockedBy string
}

var severityMeta = regexp.MustCompile(`(?:^|[\[,])severity="([a-z]+)"`)

// run scans the targets, one yara process for the raw bytes and one per
// kind of view present (the kind is passed as the external variable
// intellidox_view), and parses their output lines, "Rule [meta] path".
// The paths are ours, so each line is attributed by the path it ends with.
func (e *Engine) run(ctx context.Context, dir string, targets []target) ([]match, error) {
	var kinds []string
	for _, t := range targets {
		if !slices.Contains(kinds, t.kind) {
			kinds = append(kinds, t.kind)
		}
	}
	var out []match
	for _, k := range kinds {
		group := slices.DeleteFunc(slices.Clone(targets), func(t target) bool { return t.kind != k })
		m, err := e.runKind(ctx, dir, k, group)
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	return out, nil
}

// runKind scans targets of one kind in one yara process, or with a helper.
func (e *Engine) runKind(ctx context.Context, dir, kind string, targets []target) ([]match, error) {
	if e.helpers != nil {
		return e.runHelper(ctx, kind, targets)
	}
	list := filepath.Join(dir, "list-"+kind)
	var lb strings.Builder
	for _, t := range targets {
		lb.WriteString(t.path + "\n")
	}
	if err := os.WriteFile(list, []byte(lb.String()), 0o600); err != nil {
		return nil, fmt.Errorf("%w: staging: %v", scan.ErrUnavailable, err)
	}
	args := []string{"-C", "-w", "-m", "-p", "1"}
	if kind != "" {
		args = append(args, "-d", viewVar+"="+kind)
	}
	// No -a: yara's own timeout silently skips a file in list mode; the
	// context kills the process instead, and that is reported.
	cmd := exec.CommandContext(ctx, e.cfg.Yara, append(args, "--scan-list", e.compiled, list)...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil || strings.Contains(stderr.String(), "error") {
		return nil, fmt.Errorf("yara: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var out []match
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		t := slices.IndexFunc(targets, func(t target) bool { return strings.HasSuffix(line, " "+t.path) })
		if t < 0 {
			return nil, fmt.Errorf("yara: unexpected output line %q", line)
		}
		head := strings.TrimSuffix(line, " "+targets[t].path)
		rule, meta, _ := strings.Cut(head, " ")
		m := match{rule: rule, label: targets[t].label, unlockedBy: targets[t].unlockedBy, severity: "suspicious"}
		if s := severityMeta.FindStringSubmatch(meta); s != nil {
			m.severity = s[1]
		}
		out = append(out, m)
	}
	return out, nil
}

// runHelper scans targets of one kind with a yara-helper.
func (e *Engine) runHelper(ctx context.Context, kind string, targets []target) ([]match, error) {
	view := kind
	if view == "" {
		view = rawKind
	}
	paths := make([]string, len(targets))
	for i, t := range targets {
		paths[i] = t.path
	}
	found, err := e.helpers.scan(ctx, view, paths)
	if err != nil {
		return nil, err
	}
	var out []match
	for _, f := range found {
		t := slices.IndexFunc(targets, func(t target) bool { return t.path == f.Path })
		if t < 0 {
			return nil, fmt.Errorf("yara helper: a match on a path never sent: %q", f.Path)
		}
		m := match{rule: f.Rule, label: targets[t].label, unlockedBy: targets[t].unlockedBy, severity: "suspicious"}
		if f.Severity != "" {
			m.severity = f.Severity
		}
		out = append(out, m)
	}
	return out, nil
}

// judge maps matches to a finding. Rules declare meta severity
// "malicious", "suspicious" or "info"; a rule without one counts as
// suspicious, so a new rule can never pass a file silently. Info rules only
// appear in the detail. When nothing matched but archive or view limits
// kept something from the scan, the result is a skip that says why: that
// is not a clean bill. Informational findings (a text searched for blobs
// only in part) are noted in the detail and change nothing.
func judge(matches []match, findings []contract.Finding, members, views int) scan.Finding {
	var limits, notes []contract.Finding
	for _, l := range findings {
		if l.Effect == "" {
			notes = append(notes, l)
		} else {
			limits = append(limits, l)
		}
	}
	f := scan.Finding{Outcome: contract.Clean, Threats: []string{}}
	var found, info []string
	for _, m := range matches {
		where := m.rule
		if m.label != "" {
			where += " in " + m.label
		}
		if m.unlockedBy != "" {
			where += " (opened with the " + m.unlockedBy + " password list)"
		}
		switch m.severity {
		case "info":
			info = append(info, where)
			continue
		case "malicious":
			f.Outcome = contract.Malicious
		default:
			if f.Outcome != contract.Malicious {
				f.Outcome = contract.Suspicious
			}
		}
		found = append(found, where)
		if !slices.Contains(f.Threats, m.rule) {
			f.Threats = append(f.Threats, m.rule)
		}
	}
	var parts []string
	if len(found) > 0 {
		parts = append(parts, "matched: "+strings.Join(found, ", "))
	} else {
		parts = append(parts, "no rule matched")
	}
	if members > 0 {
		parts = append(parts, fmt.Sprintf("%d archive members scanned", members))
	}
	if views > 0 {
		parts = append(parts, fmt.Sprintf("%d decoded views scanned", views))
	}
	if len(info) > 0 {
		parts = append(parts, "informational: "+strings.Join(info, ", "))
	}
	for _, l := range limits {
		parts = append(parts, "not scanned: "+l.Message)
	}
	for _, l := range notes {
		parts = append(parts, "note: "+l.Message)
	}
	f.Detail = strings.Join(parts, "; ")
	if len(found) > 0 || len(limits) == 0 {
		return f
	}
	return scan.Skip(skipReason(limits[0].Code), f.Detail)
}

// skipReason maps an archive limit to the skip reason it stands for.
func skipReason(code string) string {
	switch code {
	case archive.CodeEncrypted, views.CodeEncrypted:
		return scan.ReasonEncrypted
	case archive.CodeUnsupported:
		return scan.ReasonUnsupported
	case archive.CodeAnalysisCancelled:
		return scan.ReasonTimeout
	}
	return scan.ReasonTooLarge
}
