// Package extractor is the extractor service: it receives file.uploaded,
// streams the object once, verifies the claimed SHA-256 and size, extracts
// metadata and publishes file.extracted (or a rejection).
package extractor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/extract"
	"github.com/intellidox/intellidox/internal/extract/archive"
	"github.com/intellidox/intellidox/internal/extract/views"
	"github.com/intellidox/intellidox/internal/seal"
	"github.com/intellidox/intellidox/internal/sidecar"
)

type sidecarAPI interface {
	Publish(ctx context.Context, topic string, v any) error
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	PutObject(ctx context.Context, key string, data []byte) error
}

// Views configures the decoded views the extractor stores for engines that
// opt in through the scanner contract. Off unless On.
type Views struct {
	On     bool
	Limits views.Limits
}

// MaxStoredView bounds one stored view: daprd takes at most 4 MiB per
// request, and a view travels to the binding in base64.
const MaxStoredView = 2 << 20

// Service extracts metadata from uploaded files.
type Service struct {
	dapr   sidecarAPI
	log    *slog.Logger
	http   *http.Client
	limits extract.Limits
	keys   seal.Opener
	views  Views
}

// NewService returns an extractor with the given safe limits.
func NewService(dapr sidecarAPI, keys seal.Opener, log *slog.Logger, limits extract.Limits, v Views) *Service {
	if v.Limits.MaxViewBytes <= 0 || v.Limits.MaxViewBytes > MaxStoredView {
		v.Limits.MaxViewBytes = MaxStoredView
	}
	return &Service{dapr: dapr, keys: keys, log: log, limits: limits, views: v, http: &http.Client{Transport: &http.Transport{
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
	if s.views.On {
		if out.Views, err = s.storeViews(ctx, src, up, limits.Passwords); err != nil {
			return out, err
		}
	}
	return out, nil
}

// storeViews stores the decoded views of a verified object under
// views/<sha256>/<n>, for engines that opt in. The decoder sniffs the
// object first: files of a type without views cost one small read; an
// encrypted PDF is opened with the same password lists as the extraction. A
// limit that cut the views short is logged (YARA reports its own).
func (s *Service) storeViews(ctx context.Context, src io.ReaderAt, up contract.FileUploaded, passwords []archive.Passwords) ([]contract.View, error) {
	lim := s.views.Limits
	lim.Passwords = passwords
	d := views.NewDecoder(lim)
	var out []contract.View
	err := d.Decode(ctx, src, up.Size, func(v views.View) error {
		key := fmt.Sprintf("views/%s/%d", up.SHA256, len(out))
		if err := s.dapr.PutObject(ctx, key, v.Data); err != nil {
			return err
		}
		out = append(out, contract.View{Kind: v.Kind, Name: v.Name, ObjectKey: key, Size: int64(len(v.Data))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decoded views: %w", err)
	}
	for _, f := range d.Findings() {
		s.log.WarnContext(ctx, "decoded views cut short", "file_id", up.FileID, "code", f.Code, "detail", f.Message)
	}
	return out, nil
}
