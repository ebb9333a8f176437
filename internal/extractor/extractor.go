// Package extractor is the extractor service: it receives file.uploaded,
// streams the object once, verifies the claimed SHA-256 and size, extracts
// metadata and publishes file.extracted (or a rejection).
package extractor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract"
	"github.com/intellidox/intellidox/internal/seal"
	"github.com/intellidox/intellidox/internal/sidecar"
)

type sidecarAPI interface {
	Publish(ctx context.Context, topic string, v any) error
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Service extracts metadata from uploaded files.
type Service struct {
	dapr   sidecarAPI
	log    *slog.Logger
	http   *http.Client
	limits extract.Limits
	keys   seal.Opener
}

// NewService returns an extractor with the given safe limits.
func NewService(dapr sidecarAPI, keys seal.Opener, log *slog.Logger, limits extract.Limits) *Service {
	return &Service{dapr: dapr, keys: keys, log: log, limits: limits, http: &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

// OnUploaded handles one file.uploaded event.
func (s *Service) OnUploaded(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var up contract.FileUploaded
	if !sidecar.Decode(s.log, ev, &up) {
		return sidecar.Drop
	}
	log := s.log.With("file_id", up.FileID, "sha256", up.SHA256)
	start := time.Now()
	out, err := s.extract(ctx, up)
	if err != nil {
		log.WarnContext(ctx, "extraction failed; will retry", "err", err)
		return sidecar.Retry
	}
	if err := s.dapr.Publish(ctx, contract.TopicFileExtracted, out); err != nil {
		log.WarnContext(ctx, "publish failed; will retry", "err", err)
		return sidecar.Retry
	}
	if out.Rejection != nil {
		log.WarnContext(ctx, "rejected", "code", out.Rejection.Code, "reason", out.Rejection.Reason)
	} else {
		log.InfoContext(ctx, "extracted", "mime", out.MIMEType, "size", out.Size,
			"findings", len(out.Findings), "duration_ms", time.Since(start).Milliseconds())
	}
	return sidecar.Success
}

// extract returns the event to publish. An error means a transient failure.
func (s *Service) extract(ctx context.Context, up contract.FileUploaded) (contract.FileExtracted, error) {
	out := contract.FileExtracted{Version: contract.SchemaVersion, FileID: up.FileID, SHA256: up.SHA256,
		Size: up.Size, ObjectKey: up.ObjectKey, Passwords: up.Passwords}
	reject := func(code, reason string) (contract.FileExtracted, error) {
		out.Rejection = &contract.Rejection{Code: code, Reason: reason}
		return out, nil
	}
	url, err := s.dapr.PresignGet(ctx, up.ObjectKey, 15*time.Minute)
	if err != nil {
		return out, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return out, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return out, fmt.Errorf("get object: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return reject(contract.RejectNotFound, "the object is not in storage")
	case resp.StatusCode != http.StatusOK:
		return out, fmt.Errorf("get object: %s", resp.Status)
	case resp.ContentLength >= 0 && resp.ContentLength != up.Size:
		return reject(contract.RejectSizeMismatch,
			fmt.Sprintf("stored object has %d bytes, %d were declared", resp.ContentLength, up.Size))
	}
	// One streaming pass over the body for hashes and streaming formats;
	// formats that need random access read ranges of the same object.
	src := extract.NewHTTPReaderAt(s.http, url, up.Size)
	limits := s.limits
	limits.Passwords = seal.Passwords(ctx, s.log, s.keys, up.Passwords)
	sum, err := extract.Inspect(ctx, resp.Body, src, up.Size, extract.Options{
		Name: up.Name, DeclaredContentType: up.ContentType, Limits: limits,
	})
	if err != nil {
		return out, err
	}
	switch {
	case sum.Size != up.Size:
		return reject(contract.RejectSizeMismatch, fmt.Sprintf("stored object has %d bytes, %d were declared", sum.Size, up.Size))
	case sum.SHA256 != up.SHA256:
		return reject(contract.RejectHashMismatch, "stored bytes hash to "+sum.SHA256)
	}
	out.MD5, out.SHA1, out.MIMEType = sum.MD5, sum.SHA1, sum.MIMEType
	out.Metadata, out.Findings = sum.Metadata, sum.Findings
	return out, nil
}
