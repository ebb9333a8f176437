// Package scan is the scanner service: it receives file.extracted (or, for
// engines that judge the bytes alone, file.uploaded), streams the object
// into one engine, writes the normalized result to the "scanresults" state
// store and announces it with scan.completed. One binary serves every
// engine; each engine runs under its own Dapr app-id.
package scan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/metrics"
	"github.com/intellidox/intellidox/internal/seal"
	"github.com/intellidox/intellidox/internal/sidecar"
)

// Engine is one scanning engine.
type Engine interface {
	// Name is the engine's id in results, e.g. "clamav".
	Name() string
	// Versions returns the engine and signature versions now in use. A
	// change of signature version invalidates cached results.
	Versions(ctx context.Context) (engine, signatures string, err error)
	// Scan reads r to the end (or until it decides) and judges it.
	Scan(ctx context.Context, r io.Reader, f File) (Finding, error)
}

// ContentFree is implemented by engines that judge a file by its hashes
// alone (e.g. reputation lists): the scanner then does not read the object.
type ContentFree interface {
	ContentFree() bool
}

// ContentFor is implemented by engines that read the object for some files
// only: the reputation engine judges most files by their hashes, and reads
// archives to look up their members' hashes. It overrides ContentFree.
type ContentFor interface {
	NeedsContent(f File) bool
}

// needsContent reports whether engine reads the object of f.
func needsContent(engine Engine, f File) bool {
	if cf, ok := engine.(ContentFor); ok {
		return cf.NeedsContent(f)
	}
	cf, ok := engine.(ContentFree)
	return !ok || !cf.ContentFree()
}

// File describes what is being scanned.
type File struct {
	SHA256, MD5, SHA1 string
	Size              int64
	MIMEType          string
	// Passwords are the lists to try on encrypted content, the built-in
	// one first (internal/seal).
	Passwords []archive.Passwords
}

// Finding is an engine's raw answer, before normalization.
type Finding struct {
	Outcome contract.Outcome
	Threats []string
	Detail  string
}

// ErrUnavailable marks transient engine failures: the event is retried.
var ErrUnavailable = errors.New("engine unavailable")

// Skip reasons. The detail of every skipped result starts with one of them
// and a colon, e.g. "too large: 2147483648 bytes exceeds …".
const (
	ReasonTooLarge    = "too large"
	ReasonEncrypted   = "encrypted"
	ReasonUnsupported = "unsupported type"
	ReasonTimeout     = "timeout"
)

// Skip returns a skipped finding for reason, explained by detail.
func Skip(reason, detail string) Finding {
	return Finding{Outcome: contract.Skipped, Threats: []string{}, Detail: reason + ": " + detail}
}

// SkipReason returns the reason a skipped result's detail starts with, or
// "" if it names none.
func SkipReason(detail string) string {
	for _, r := range []string{ReasonTooLarge, ReasonEncrypted, ReasonUnsupported, ReasonTimeout} {
		if strings.HasPrefix(detail, r+": ") {
			return r
		}
	}
	return ""
}

// DetailUnreadable starts the detail of the error result written when the
// object named by an event is not in storage.
const DetailUnreadable = "unreadable: "

// sidecarAPI is what the scanner needs from Dapr.
type sidecarAPI interface {
	Publish(ctx context.Context, topic string, v any) error
	GetState(ctx context.Context, key string, v any) error
	SaveState(ctx context.Context, key string, v any) error
	OpenObject(ctx context.Context, key string) (io.ReadCloser, error)
}

// Config bounds the scanner.
type Config struct {
	Timeout time.Duration // per scan
	// Concurrency bounds the scans in progress; further events wait for a
	// slot (the sidecar's app-max-concurrency bounds how many wait).
	Concurrency int
	// Keys opens the sealed password lists events carry; nil tries the
	// built-in list only.
	Keys seal.Opener
	// OnUpload starts scans on file.uploaded, beside the extractor, instead
	// of after it: the scanner checks the claimed SHA-256 and size of the
	// bytes it reads, and acts on file.extracted only when it is a rescan.
	// Only for engines that read every file and need nothing the extractor
	// derives (its other hashes, type or decoded views): see ReadsBytes.
	OnUpload bool
}

// ReadsBytes reports whether engine judges every file by its bytes alone,
// so that it may start on file.uploaded (Config.OnUpload).
func ReadsBytes(engine Engine) bool {
	if _, ok := engine.(ContentFor); ok {
		return false
	}
	cf, ok := engine.(ContentFree)
	return !ok || !cf.ContentFree()
}

// Service scans files with one engine.
type Service struct {
	engine Engine
	dapr   sidecarAPI
	log    *slog.Logger
	cfg    Config
	slots  chan struct{}
}

// NewService returns a scanner for engine.
func NewService(engine Engine, dapr sidecarAPI, log *slog.Logger, cfg Config) *Service {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	return &Service{engine: engine, dapr: dapr, log: log.With("engine", engine.Name()), cfg: cfg,
		slots: make(chan struct{}, cfg.Concurrency)}
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// StateKey is where the latest result of engine for content sha256 lives.
func StateKey(sha256, engine string) string { return "result/" + engine + "/" + sha256 }

// OnExtracted handles one file.extracted event.
func (s *Service) OnExtracted(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var e contract.FileExtracted
	if !sidecar.Decode(s.log, ev, &e) {
		return sidecar.Drop
	}
	if e.Rejection != nil || !e.ForEngine(s.engine.Name()) {
		return sidecar.Success // nothing verified to scan, or a rescan for other engines
	}
	if s.cfg.OnUpload && !e.Rescan {
		return sidecar.Success // scanned from file.uploaded; only rescans and re-drives come here
	}
	log := s.log.With("file_id", e.FileID, "sha256", e.SHA256)
	if !validSHA256(e.SHA256) || e.ObjectKey == "" {
		log.WarnContext(ctx, "file.extracted without a sha256 or object key dropped", "event_id", ev.ID)
		return sidecar.Drop
	}
	return s.answer(ctx, log, e, false)
}

// OnUploaded handles one file.uploaded event, for engines that start on
// the bytes the client claims (Config.OnUpload). Bytes that turn out not
// to be the claimed ones leave no result: the extractor rejects them.
func (s *Service) OnUploaded(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var u contract.FileUploaded
	if !sidecar.Decode(s.log, ev, &u) {
		return sidecar.Drop
	}
	log := s.log.With("file_id", u.FileID, "sha256", u.SHA256)
	if !validSHA256(u.SHA256) || u.ObjectKey == "" || u.Size < 0 {
		log.WarnContext(ctx, "file.uploaded without a sha256, object key or size dropped", "event_id", ev.ID)
		return sidecar.Drop
	}
	return s.answer(ctx, log, contract.FileExtracted{Version: u.Version, FileID: u.FileID, SHA256: u.SHA256,
		Size: u.Size, ObjectKey: u.ObjectKey, Passwords: u.Passwords}, true)
}

// answer finds or makes the engine's result for e and announces it.
// unverified says that e's hash and size are the client's claim.
func (s *Service) answer(ctx context.Context, log *slog.Logger, e contract.FileExtracted, unverified bool) sidecar.Status {
	res, err := s.result(ctx, log, e, unverified)
	if errors.Is(err, errNotClaimed) {
		log.WarnContext(ctx, "no result for bytes that are not the claimed ones; the extractor rejects them", "err", err)
		return sidecar.Success
	}
	if err != nil {
		log.WarnContext(ctx, "scan failed; will retry", "err", err)
		return sidecar.Retry
	}
	if err := s.dapr.Publish(ctx, contract.TopicScanCompleted, contract.ScanCompleted{
		Version: contract.SchemaVersion, FileID: e.FileID, SHA256: e.SHA256, Result: res,
	}); err != nil {
		log.WarnContext(ctx, "publish failed; will retry", "err", err)
		return sidecar.Retry
	}
	log.InfoContext(ctx, "scanned", "result", res.Result, "threats", res.Threats, "duration_ms", res.DurationMs)
	return sidecar.Success
}

// Log messages the chaos tests count (e2e/chaos): each real engine
// execution, and each result saved to the state store.
const (
	LogEngineRun    = "engine run"
	LogResultStored = "result stored"
)

// result returns the cached result for the current signatures, or scans.
func (s *Service) result(ctx context.Context, log *slog.Logger, e contract.FileExtracted, unverified bool) (contract.Result, error) {
	engineVersion, sigVersion, err := s.engine.Versions(ctx)
	if err != nil {
		return contract.Result{}, err
	}
	key := StateKey(e.SHA256, s.engine.Name())
	if cached, ok, err := s.cached(ctx, key, sigVersion, e); err != nil || ok {
		return cached, err // same content, same signatures: never scanned twice
	}
	waited, err := s.acquire(ctx)
	if err != nil {
		return contract.Result{}, err
	}
	defer func() { <-s.slots }()
	// Another delivery of the same content (a redelivery, or a second
	// upload) may have stored its result while this one waited for a
	// slot. Without a wait there is nothing new to see: the state store
	// is read once.
	if waited {
		if cached, ok, err := s.cached(ctx, key, sigVersion, e); err != nil || ok {
			return cached, err
		}
	}
	log.InfoContext(ctx, LogEngineRun, "signature_version", sigVersion, "started_at", time.Now())
	res, err := s.scan(ctx, e, unverified)
	if err != nil {
		return contract.Result{}, err
	}
	metrics.ScanDuration.WithLabelValues(s.engine.Name(), string(res.Result)).Observe(float64(res.DurationMs) / 1000)
	res.Engine, res.EngineVersion, res.SignatureVersion = s.engine.Name(), engineVersion, sigVersion
	if err := s.dapr.SaveState(ctx, key, res); err != nil {
		return contract.Result{}, err
	}
	log.InfoContext(ctx, LogResultStored, "signature_version", sigVersion, "result", res.Result,
		"scanned_at", res.ScannedAt, "stored_at", time.Now())
	return res, nil
}

// acquire takes a scan slot, and reports whether it had to wait for one.
func (s *Service) acquire(ctx context.Context) (waited bool, err error) {
	select {
	case s.slots <- struct{}{}:
		return false, nil
	default:
	}
	select {
	case s.slots <- struct{}{}:
		return true, nil
	case <-ctx.Done():
		return true, fmt.Errorf("waiting for a scan slot: %w", ctx.Err())
	}
}

// cached returns the stored result of key if it stands for sigVersion and
// for the event e.
func (s *Service) cached(ctx context.Context, key, sigVersion string, e contract.FileExtracted) (contract.Result, bool, error) {
	var cached contract.Result
	switch err := s.dapr.GetState(ctx, key, &cached); {
	case err == nil && cached.SignatureVersion == sigVersion && reusable(cached, len(e.Passwords) > 0):
		return cached, true, nil
	case err != nil && !errors.Is(err, sidecar.ErrNotFound):
		return contract.Result{}, false, err
	}
	return contract.Result{}, false, nil
}

// reusable reports whether a cached result with current signatures stands.
// Errors and timeouts may pass, so a redelivered event tries again; content
// that stayed encrypted is tried again when the event brings passwords.
func reusable(r contract.Result, passwords bool) bool {
	if r.Result == contract.Error {
		return false
	}
	switch SkipReason(r.Detail) {
	case ReasonTimeout:
		return r.Result != contract.Skipped
	case ReasonEncrypted:
		return r.Result != contract.Skipped || !passwords
	}
	return true
}

// errObjectRead marks failures reading the object, as opposed to the
// engine's own: they are transient.
var errObjectRead = errors.New("reading the object")

type objectReader struct{ r io.Reader }

func (o objectReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errObjectRead, err)
	}
	return n, err
}

// errNotClaimed marks bytes whose SHA-256 or size differ from the claim
// of the file.uploaded that named them.
var errNotClaimed = errors.New("the bytes are not the claimed ones")

// claimCheck hashes and counts what the engine reads, for bytes that are
// still only claimed to be e's (file.uploaded).
type claimCheck struct {
	r    io.Reader
	hash hash.Hash
	n    int64
}

func (c *claimCheck) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.hash.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// verify reads what the engine left unread and compares the bytes with
// the claim. A result may be kept only if it returns nil.
func (c *claimCheck) verify(sha string, size int64) error {
	if _, err := io.Copy(io.Discard, c); err != nil {
		return err
	}
	if got := hex.EncodeToString(c.hash.Sum(nil)); c.n != size || got != sha {
		return fmt.Errorf("%w: read %d bytes with sha256 %s, claimed %d bytes with sha256 %s", errNotClaimed, c.n, got, size, sha)
	}
	return nil
}

// scan streams the object into the engine. An error means a transient
// failure: the event is retried. For unverified bytes, a result the cache
// would reuse is returned only if the bytes are the claimed ones; errors
// and timeouts, which it never reuses, are returned either way.
func (s *Service) scan(parent context.Context, e contract.FileExtracted, unverified bool) (contract.Result, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, s.cfg.Timeout)
	defer cancel()
	res := contract.Result{ScannedAt: start.UTC(), Threats: []string{}}
	finish := func(f Finding) (contract.Result, error) {
		if f.Outcome == contract.Skipped && SkipReason(f.Detail) == "" {
			// Every skip must say why; an engine that does not is wrong.
			f = Finding{Outcome: contract.Error, Detail: "engine skipped without a stated reason: " + f.Detail}
		}
		res.Result, res.Detail = f.Outcome, f.Detail
		if f.Threats != nil {
			res.Threats = f.Threats
		}
		res.DurationMs = time.Since(start).Milliseconds()
		return res, nil
	}
	file := File{SHA256: e.SHA256, MD5: e.MD5, SHA1: e.SHA1, Size: e.Size, MIMEType: e.MIMEType}
	var body io.Reader = http.NoBody
	var check *claimCheck
	if unverified && !needsContent(s.engine, file) {
		return res, fmt.Errorf("%w: the %s engine does not read the bytes to check them", errNotClaimed, s.engine.Name())
	}
	if needsContent(s.engine, file) {
		file.Passwords = seal.Passwords(ctx, s.log, s.cfg.Keys, e.Passwords)
		rc, err := s.dapr.OpenObject(ctx, e.ObjectKey)
		switch {
		case errors.Is(err, sidecar.ErrNotFound):
			// The extractor verified the object, so it was deleted since:
			// no retry brings it back. Say so instead of waiting forever.
			return finish(Finding{Outcome: contract.Error,
				Detail: DetailUnreadable + fmt.Sprintf("object %q is not in storage", e.ObjectKey)})
		case err != nil:
			return res, fmt.Errorf("%w: open object: %v", ErrUnavailable, err)
		}
		defer rc.Close()
		body = objectReader{rc}
		if unverified {
			check = &claimCheck{r: body, hash: sha256.New()}
			body = check
		}
	}
	f, err := s.engine.Scan(ctx, body, file)
	switch {
	case err == nil && check != nil && reusable(contract.Result{Result: f.Outcome, Detail: f.Detail}, false):
		if err := check.verify(e.SHA256, e.Size); err != nil {
			return res, err
		}
		return finish(f)
	case err == nil:
		return finish(f)
	case parent.Err() != nil:
		return res, fmt.Errorf("scan interrupted: %w", parent.Err()) // shutting down, or the sidecar gave up
	case expired(ctx):
		return finish(Skip(ReasonTimeout, fmt.Sprintf("the scan took longer than %s", s.cfg.Timeout)))
	case errors.Is(err, ErrUnavailable), errors.Is(err, errObjectRead):
		return res, err
	}
	return finish(Finding{Outcome: contract.Error, Detail: err.Error()})
}

// expired reports whether ctx's deadline has passed, even if its timer has
// not fired yet: an engine that bounds its I/O by the same deadline can
// return a moment before ctx.Err() is set.
func expired(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || ok && !time.Now().Before(d)
}
