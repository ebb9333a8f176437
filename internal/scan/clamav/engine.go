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
	client *Client
	dbDir  string // optional: the signature directory clamd loads

	mu      sync.Mutex
	checked time.Time
	engine  string
	sigs    string
}

// NewEngine returns an engine that scans with clamd at addr. dbDir, when
// set, names clamd's signature directory: its contents version the
// project-owned signatures, which clamd's VERSION does not report.
func NewEngine(addr, dbDir string, timeout time.Duration) *Engine {
	return &Engine{client: &Client{Addr: addr, Timeout: timeout}, dbDir: dbDir}
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
		if !en.IsDir() && !strings.HasSuffix(en.Name(), ".cvd") && !strings.HasSuffix(en.Name(), ".cld") {
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

// Scan implements scan.Engine.
func (e *Engine) Scan(ctx context.Context, r io.Reader, _ scan.File) (scan.Finding, error) {
	reply, err := e.client.Scan(ctx, r)
	switch {
	case errors.Is(err, ErrUnavailable):
		return scan.Finding{}, fmt.Errorf("%w: %v", scan.ErrUnavailable, err)
	case err != nil:
		return scan.Finding{}, err
	case reply.Limited:
		return scan.Finding{Outcome: contract.Skipped,
			Detail: "too large: the file exceeds clamd's StreamMaxLength"}, nil
	case reply.Found:
		return scan.Finding{Outcome: classify(reply.Threat), Threats: []string{reply.Threat},
			Detail: "signature match: " + reply.Threat}, nil
	}
	return scan.Finding{Outcome: contract.Clean, Detail: "no signature matched"}, nil
}

// classify maps ClamAV's naming conventions to outcomes: heuristic and
// potentially-unwanted detections are suspicious, the rest malicious.
func classify(threat string) contract.Outcome {
	for _, marker := range []string{"Heuristics.", "PUA."} {
		if strings.HasPrefix(threat, marker) || strings.Contains(threat, "."+marker) {
			return contract.Suspicious
		}
	}
	return contract.Malicious
}
