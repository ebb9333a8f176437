// Package scan is the scanner service: it receives file.extracted, streams
// the object into one engine, writes the normalized result to the
// "scanresults" state store and announces it with scan.completed. One binary
// serves every engine; each engine runs under its own Dapr app-id.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
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

// File describes what is being scanned.
type File struct {
	SHA256, MD5, SHA1 string
	Size              int64
	MIMEType          string
}

// Finding is an engine's raw answer, before normalization.
type Finding struct {
	Outcome contract.Outcome
	Threats []string
	Detail  string
}

// ErrUnavailable marks transient engine failures: the event is retried.
var ErrUnavailable = errors.New("engine unavailable")

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
}

// Service scans files with one engine.
type Service struct {
	engine Engine
	dapr   sidecarAPI
	log    *slog.Logger
	cfg    Config
}

// NewService returns a scanner for engine.
func NewService(engine Engine, dapr sidecarAPI, log *slog.Logger, cfg Config) *Service {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	return &Service{engine: engine, dapr: dapr, log: log.With("engine", engine.Name()), cfg: cfg}
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
	log := s.log.With("file_id", e.FileID, "sha256", e.SHA256)
	res, err := s.result(ctx, e)
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

// result returns the cached result for the current signatures, or scans.
func (s *Service) result(ctx context.Context, e contract.FileExtracted) (contract.Result, error) {
	engineVersion, sigVersion, err := s.engine.Versions(ctx)
	if err != nil {
		return contract.Result{}, err
	}
	key := StateKey(e.SHA256, s.engine.Name())
	var cached contract.Result
	switch err := s.dapr.GetState(ctx, key, &cached); {
	case err == nil && cached.SignatureVersion == sigVersion && cached.Result != contract.Error:
		return cached, nil // same content, same signatures: never scanned twice
	case err != nil && !errors.Is(err, sidecar.ErrNotFound):
		return contract.Result{}, err
	}
	res := s.scan(ctx, e)
	if res.Result == "" {
		return contract.Result{}, fmt.Errorf("%w: %s", ErrUnavailable, res.Detail)
	}
	res.Engine, res.EngineVersion, res.SignatureVersion = s.engine.Name(), engineVersion, sigVersion
	if err := s.dapr.SaveState(ctx, key, res); err != nil {
		return contract.Result{}, err
	}
	return res, nil
}

// scan streams the object into the engine. Transient failures come back as
// a Result with an empty outcome and the reason in Detail.
func (s *Service) scan(ctx context.Context, e contract.FileExtracted) contract.Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res := contract.Result{ScannedAt: start.UTC(), Threats: []string{}}
	finish := func(f Finding) contract.Result {
		res.Result, res.Detail = f.Outcome, f.Detail
		if f.Threats != nil {
			res.Threats = f.Threats
		}
		res.DurationMs = time.Since(start).Milliseconds()
		return res
	}
	var body io.Reader = http.NoBody
	if cf, ok := s.engine.(ContentFree); !ok || !cf.ContentFree() {
		rc, err := s.dapr.OpenObject(ctx, e.ObjectKey)
		if err != nil {
			return finish(Finding{Detail: err.Error()})
		}
		defer rc.Close()
		body = rc
	}
	f, err := s.engine.Scan(ctx, body, File{SHA256: e.SHA256, MD5: e.MD5, SHA1: e.SHA1, Size: e.Size, MIMEType: e.MIMEType})
	switch {
	case err == nil:
		return finish(f)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return finish(Finding{Outcome: contract.Skipped, Detail: fmt.Sprintf("timeout: scan took longer than %s", s.cfg.Timeout)})
	case errors.Is(err, ErrUnavailable):
		return finish(Finding{Detail: err.Error()})
	}
	return finish(Finding{Outcome: contract.Error, Detail: err.Error()})
}
