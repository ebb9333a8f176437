package clamav

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/scan"
)

// Engine is the ClamAV engine: clamd over INSTREAM.
type Engine struct {
	client  *Client
	dbDir   string // optional: the signature directory clamd loads
	maxSize int64  // optional: larger files are skipped without streaming

	mu      sync.Mutex
	checked time.Time
	engine  string
	sigs    string
}

// Config sets up the engine.
type Config struct {
	Addr string // clamd's host:port
	// DBDir, when set, names clamd's signature directory: its contents
	// version the project-owned signatures, which VERSION does not report.
	DBDir string
	// Timeout bounds one clamd command, the scan included.
	Timeout time.Duration
	// MaxSize, when set, skips larger files without streaming them. Set it
	// to clamd's StreamMaxLength to save sending bytes clamd would refuse;
	// MaxStream, clamd's own ceiling, is the scanner's default.
	MaxSize int64
}

// New returns an engine that scans with clamd.
func New(cfg Config) *Engine {
	return &Engine{client: &Client{Addr: cfg.Addr, Timeout: cfg.Timeout}, dbDir: cfg.DBDir, maxSize: cfg.MaxSize}
}

// NewEngine returns an engine that scans with clamd at addr.
func NewEngine(addr, dbDir string, timeout time.Duration) *Engine {
	return New(Config{Addr: addr, DBDir: dbDir, Timeout: timeout})
}

// Name implements scan.Engine.
func (e *Engine) Name() string { return "clamav" }

// versionTTL bounds how stale a cached signature version may be.
const versionTTL = 5 * time.Second

// Versions implements scan.Engine. VERSION answers "ClamAV 1.4.6/27500/date"
// with official databases, where 27500 is the daily signature version.
func (e *Engine) Versions(ctx context.Context) (string, string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.checked) < versionTTL {
		return e.engine, e.sigs, nil
	}
	line, err := e.client.Version(ctx)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", scan.ErrUnavailable, err)
	}
	parts := strings.Split(strings.TrimPrefix(line, "ClamAV "), "/")
	engine, sigs := parts[0], ""
	if len(parts) > 1 {
		sigs = parts[1]
	}
	if local := dirVersion(e.dbDir); local != "" {
		sigs = strings.TrimPrefix(sigs+"+"+local, "+")
	}
	if sigs == "" {
		sigs = "unknown"
	}
	e.engine, e.sigs, e.checked = engine, sigs, time.Now()
	return engine, sigs, nil
}

// dirVersion hashes the signature files in dir: "local-<12 hex>".
// customSignatures are the extensions of ClamAV's plain-text signature
// files. Official .cvd/.cld databases are versioned by VERSION, and other
// files there (freshclam.dat, logs) must not change the version.
var customSignatures = map[string]bool{
	".hdb": true, ".hsb": true, ".hdu": true, ".hsu": true, ".mdb": true, ".msb": true, ".mdu": true, ".msu": true,
	".ndb": true, ".ndu": true, ".ldb": true, ".ldu": true, ".idb": true, ".cdb": true, ".cbc": true,
	".pdb": true, ".gdb": true, ".wdb": true, ".fp": true, ".sfp": true, ".ign": true, ".ign2": true, ".crb": true,
	".yar": true, ".yara": true,
}

func dirVersion(dir string) string {
	if dir == "" {
		return ""
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	h := sha256.New()
	names := []string{}
	for _, en := range entries {
		if !en.IsDir() && customSignatures[filepath.Ext(en.Name())] {
			names = append(names, en.Name())
		}
	}
	slices.Sort(names)
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s\x00", n)
		_, _ = io.Copy(h, f)
		f.Close()
	}
	if len(names) == 0 {
		return ""
	}
	return "local-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// MaxStream is the most clamd scans of one stream: its StreamMaxLength
// and MaxScanSize stop below 2 GiB whatever they are set to.
const MaxStream = 2<<30 - 1

// Scan implements scan.Engine.
func (e *Engine) Scan(ctx context.Context, r io.Reader, f scan.File) (scan.Finding, error) {
	if e.maxSize > 0 && f.Size > e.maxSize {
		why := ""
		if e.maxSize >= MaxStream {
			why = " (clamd scans less than 2 GiB)"
		}
		return scan.Skip(scan.ReasonTooLarge, fmt.Sprintf("%d bytes exceeds the clamav engine's limit of %d bytes%s", f.Size, e.maxSize, why)), nil
	}
	reply, err := e.client.Scan(ctx, r)
	switch {
	case errors.Is(err, ErrUnavailable):
		return scan.Finding{}, fmt.Errorf("%w: %v", scan.ErrUnavailable, err)
	case err != nil:
		return scan.Finding{}, err
	case reply.Limited:
		return scan.Skip(scan.ReasonTooLarge, fmt.Sprintf("%d bytes exceeds clamd's StreamMaxLength", f.Size)), nil
	case reply.Found:
		return classify(reply.Threat), nil
	}
	return scan.Finding{Outcome: contract.Clean, Detail: "no signature matched"}, nil
}

// classify maps ClamAV's naming conventions to outcomes. clamd reports the
// limits it hit and encrypted content as heuristic detections when
// AlertExceedsMax and AlertEncrypted are on (without them it answers OK for
// content it never looked at): those are skips, with the reason. Other
// heuristic and potentially-unwanted detections are suspicious, the rest
// malicious.
func classify(threat string) scan.Finding {
	name := strings.TrimSuffix(threat, ".UNOFFICIAL")
	switch {
	case strings.HasPrefix(name, "Heuristics.Limits.Exceeded."):
		return scan.Skip(scan.ReasonTooLarge, fmt.Sprintf("clamd stopped at its %s limit (%s); the content was not fully scanned",
			strings.TrimPrefix(name, "Heuristics.Limits.Exceeded."), threat))
	case strings.HasPrefix(name, "Heuristics.Encrypted."):
		return scan.Skip(scan.ReasonEncrypted, fmt.Sprintf("clamd cannot read encrypted %s content (%s)",
			strings.TrimPrefix(name, "Heuristics.Encrypted."), threat))
	}
	out := contract.Malicious
	for _, marker := range []string{"Heuristics.", "PUA."} {
		if strings.HasPrefix(threat, marker) || strings.Contains(threat, "."+marker) {
			out = contract.Suspicious
		}
	}
	return scan.Finding{Outcome: out, Threats: []string{threat}, Detail: "signature match: " + threat}
}
