// Package extractor is the extractor service: it receives file.uploaded,
// streams the object once, verifies the claimed SHA-256 and size, extracts
// metadata and publishes file.extracted (or a rejection).
package extractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract"
	"github.com/intellidox/intellidox/internal/sidecar"
)

type sidecarAPI interface {
	Publish(ctx context.Context, topic string, v any) error
	OpenObject(ctx context.Context, key string) (io.ReadCloser, error)
}

// Service extracts metadata from uploaded files.
type Service struct {
	dapr sidecarAPI
	log  *slog.Logger
}

// NewService returns an extractor.
func NewService(dapr sidecarAPI, log *slog.Logger) *Service {
	return &Service{dapr: dapr, log: log}
}

// OnUploaded handles one file.uploaded event.
func (s *Service) OnUploaded(ctx context.Context, ev sidecar.Event) sidecar.Status {
	var up contract.FileUploaded
	if !sidecar.Decode(s.log, ev, &up) {
		return sidecar.Drop
	}
	log := s.log.With("file_id", up.FileID, "sha256", up.SHA256)
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
		log.InfoContext(ctx, "extracted", "mime", out.MIMEType, "size", out.Size)
	}
	return sidecar.Success
}

// extract returns the event to publish. An error means a transient failure.
func (s *Service) extract(ctx context.Context, up contract.FileUploaded) (contract.FileExtracted, error) {
	out := contract.FileExtracted{Version: contract.SchemaVersion, FileID: up.FileID, SHA256: up.SHA256,
		Size: up.Size, ObjectKey: up.ObjectKey}
	reject := func(code, reason string) (contract.FileExtracted, error) {
		out.Rejection = &contract.Rejection{Code: code, Reason: reason}
		return out, nil
	}
	body, err := s.dapr.OpenObject(ctx, up.ObjectKey)
	if errors.Is(err, sidecar.ErrNotFound) {
		return reject(contract.RejectNotFound, "the object is not in storage")
	}
	if err != nil {
		return out, err
	}
	defer body.Close()
	sum, err := extract.Analyze(body)
	if err != nil {
		return out, err
	}
	switch {
	case sum.Size != up.Size:
		return reject(contract.RejectSizeMismatch, fmt.Sprintf("stored object has %d bytes, %d were declared", sum.Size, up.Size))
	case sum.SHA256 != up.SHA256:
		return reject(contract.RejectHashMismatch, "stored bytes hash to "+sum.SHA256)
	}
	out.MD5, out.SHA1, out.MIMEType, out.Metadata = sum.MD5, sum.SHA1, sum.MIMEType, sum.Metadata
	return out, nil
}
