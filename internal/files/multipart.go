package files

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/rest"
)

// Large files are uploaded in parts (S3 multipart uploads), each part
// presigned for its size and SHA-256, so that an upload can be resumed
// after a network loss or a closed tab: GET /v1/files/{id}/upload lists the
// parts storage holds. Confirm joins them; the extractor then verifies the
// whole object's SHA-256 as for any upload.

// Limits of S3 multipart uploads.
const (
	MinPartSize = rest.MinPartSize
	MaxPartSize = rest.MaxPartSize
	MaxParts    = rest.MaxParts
)

// Defaults of Config for multipart uploads.
const (
	DefaultMultipartThreshold = rest.DefaultMultipartThreshold
	DefaultMultipartTTL       = 24 * time.Hour
	// maxPresignTTL is the longest a SigV4 presigned URL may live.
	maxPresignTTL = 7 * 24 * time.Hour
)

// Multiparts runs multipart uploads in object storage.
type Multiparts interface {
	StartMultipart(ctx context.Context, key string) (string, error)
	PresignPart(ctx context.Context, key, id string, number int32, size int64, sha256Hex string, ttl time.Duration) (Part, error)
	// Parts lists the parts storage holds; ok is false when the upload is
	// unknown (completed or aborted).
	Parts(ctx context.Context, key, id string) (parts []StoredPart, ok bool, err error)
	CompleteMultipart(ctx context.Context, key, id string, parts []StoredPart) error
	AbortMultipart(ctx context.Context, key, id string) error
}

// Multipart is an upload's multipart upload: its id in storage, the size
// of every part but the last, and each part's SHA-256 (hex), in order.
type Multipart struct {
	ID         string
	PartSize   int64
	PartSHA256 []string
}

// size returns the size of part number (from 1) of a file of total bytes.
func (m *Multipart) size(number int32, total int64) int64 {
	if int64(number) < int64(len(m.PartSHA256)) {
		return m.PartSize
	}
	return total - m.PartSize*int64(len(m.PartSHA256)-1)
}

// PartsFor is rest.PartsFor.
func PartsFor(size, partSize int64) int { return rest.PartsFor(size, partSize) }

// PartSizeFor is rest.PartSizeFor.
func PartSizeFor(size int64) int64 { return rest.PartSizeFor(size) }

// multipart validates the parts of a create request: they are required
// over the threshold and accepted above MinPartSize.
func (s *Service) multipart(r CreateRequest, size int64) (*Multipart, error) {
	if r.PartSize == nil && len(r.PartSHA256) == 0 {
		if size > s.threshold() && s.cfg.Multipart != nil {
			return nil, problem.Field("parts_required", "partSize", fmt.Sprintf(
				"files over %d bytes are uploaded in parts: give partSize (%d to %d bytes, at most %d parts; %d suits this file) and partSha256, the SHA-256 of each part in order.",
				s.threshold(), MinPartSize, int64(MaxPartSize), MaxParts, PartSizeFor(size)))
		}
		return nil, nil
	}
	if s.cfg.Multipart == nil {
		return nil, problem.Field("parts_unsupported", "partSize", "this api takes uploads in one part only.")
	}
	if r.PartSize == nil {
		return nil, problem.Field("missing_field", "partSize", "partSize is required with partSha256.")
	}
	ps := *r.PartSize
	if ps < MinPartSize || ps > MaxPartSize {
		return nil, problem.Field("invalid_part_size", "partSize", fmt.Sprintf("partSize must be %d to %d bytes.", MinPartSize, int64(MaxPartSize)))
	}
	n := PartsFor(size, ps)
	if n > MaxParts {
		return nil, problem.Field("invalid_part_size", "partSize", fmt.Sprintf(
			"%d parts of %d bytes exceed the limit of %d parts: choose a larger partSize (%d suits this file).", n, ps, MaxParts, PartSizeFor(size)))
	}
	if len(r.PartSHA256) != n {
		return nil, problem.Field("invalid_parts", "partSha256", fmt.Sprintf(
			"a file of %d bytes has %d parts of %d bytes: partSha256 must list %d SHA-256 values, not %d.", size, n, ps, n, len(r.PartSHA256)))
	}
	sums := make([]string, n)
	for i, h := range r.PartSHA256 {
		if !sha256Hex.MatchString(h) {
			return nil, problem.Field("invalid_parts", "partSha256", fmt.Sprintf("partSha256[%d] must be 64 hexadecimal digits.", i))
		}
		sums[i] = strings.ToLower(h)
	}
	return &Multipart{PartSize: ps, PartSHA256: sums}, nil
}

func (s *Service) threshold() int64 {
	if s.cfg.MultipartThreshold > 0 {
		return s.cfg.MultipartThreshold
	}
	return DefaultMultipartThreshold
}

func (s *Service) multipartTTL() time.Duration {
	if s.cfg.MultipartTTL > 0 {
		return min(s.cfg.MultipartTTL, maxPresignTTL)
	}
	return DefaultMultipartTTL
}

// presignParts presigns every part of f that storage does not hold yet;
// received parts are listed without a URL.
func (s *Service) presignParts(ctx context.Context, f File, received map[int32]bool) (*Upload, error) {
	m := f.Multipart
	up := &Upload{Method: "PUT", PartSize: m.PartSize, ExpiresAt: f.ExpiresAt.UTC().Truncate(time.Second)}
	ttl := min(time.Until(f.ExpiresAt), maxPresignTTL)
	for i, sum := range m.PartSHA256 {
		n := int32(i + 1)
		if received[n] {
			up.Parts = append(up.Parts, Part{Number: n, Size: m.size(n, f.Size), Received: true})
			continue
		}
		p, err := s.cfg.Multipart.PresignPart(ctx, f.ObjectKey, m.ID, n, m.size(n, f.Size), sum, ttl)
		if err != nil {
			return nil, problem.Wrap(problem.Internal, "presign_failed", "Could not issue the part upload URLs.", err)
		}
		up.Parts = append(up.Parts, p)
	}
	return up, nil
}

// UploadState is rest.UploadState.
type UploadState = rest.UploadState

// UploadState returns what storage holds of the tenant's awaiting upload id
// and fresh URLs for the rest. A multipart upload's expiry moves on by
// MultipartTTL with each call: a client resuming keeps it alive.
func (s *Service) UploadState(ctx context.Context, tenant, id string) (UploadState, error) {
	f, err := s.store.Get(ctx, tenant, id)
	if err != nil {
		return UploadState{}, err
	}
	if f.Status != AwaitingUpload {
		return UploadState{}, problem.New(problem.Conflict, "not_awaiting_upload",
			fmt.Sprintf("The file is %s: its bytes are no longer awaited.", f.Status))
	}
	out := UploadState{ID: f.ID, Status: f.Status}
	expired := problem.New(problem.Gone, "upload_expired",
		"The upload expired before its bytes arrived (parts are discarded then): create the file again.")
	if f.Multipart == nil {
		size, found, err := s.objects.ObjectSize(ctx, f.ObjectKey)
		if err != nil {
			return UploadState{}, Unavailable("storage_unavailable", "Object storage", err)
		}
		if found {
			out.ReceivedBytes = size
		} else if time.Now().After(f.ExpiresAt) {
			return UploadState{}, expired
		}
		up, err := s.presign.PresignPut(ctx, f.ObjectKey, f.Size, f.SHA256, s.cfg.PresignTTL)
		if err != nil {
			return UploadState{}, problem.Wrap(problem.Internal, "presign_failed", "Could not issue an upload URL.", err)
		}
		out.Upload = &up
		return out, nil
	}
	if time.Now().After(f.ExpiresAt) {
		return UploadState{}, expired
	}
	parts, ok, err := s.cfg.Multipart.Parts(ctx, f.ObjectKey, f.Multipart.ID)
	if err != nil {
		return UploadState{}, Unavailable("storage_unavailable", "Object storage", err)
	}
	if !ok {
		return UploadState{}, expired
	}
	received := map[int32]bool{}
	for _, p := range good(f, parts) {
		received[p.Number] = true
		out.ReceivedBytes += p.Size
	}
	f.ExpiresAt = time.Now().Add(s.multipartTTL())
	if err := s.store.ExtendUpload(ctx, tenant, id, f.ExpiresAt); err != nil {
		return UploadState{}, err
	}
	if out.Upload, err = s.presignParts(ctx, f, received); err != nil {
		return UploadState{}, err
	}
	return out, nil
}

// good returns the stored parts that are the declared ones: the right
// number, size and SHA-256, one each, in order. Storage refuses other
// bytes at the presigned URLs; this keeps anything else out of the object.
// A part storage lists without a checksum (S3 always gives it; the moto
// emulator does not) counts by its size: the extractor's check of the
// whole object's SHA-256 still proves the bytes.
func good(f File, parts []StoredPart) []StoredPart {
	m := f.Multipart
	var out []StoredPart
	seen := map[int32]bool{}
	for _, p := range parts {
		if p.Number < 1 || int(p.Number) > len(m.PartSHA256) || seen[p.Number] {
			continue
		}
		if p.Size != m.size(p.Number, f.Size) || (p.SHA256 != "" && p.SHA256 != m.PartSHA256[p.Number-1]) {
			continue
		}
		seen[p.Number] = true
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b StoredPart) int { return int(a.Number - b.Number) })
	return out
}

// completeParts joins the parts of a multipart upload into its object, if
// storage holds them all. An upload storage no longer knows was completed
// by an earlier confirm (or aborted): the object check that follows
// decides.
func (s *Service) completeParts(ctx context.Context, f File) error {
	parts, ok, err := s.cfg.Multipart.Parts(ctx, f.ObjectKey, f.Multipart.ID)
	if err != nil {
		return Unavailable("storage_unavailable", "Object storage", err)
	}
	if !ok {
		return nil
	}
	have := good(f, parts)
	if len(have) < len(f.Multipart.PartSHA256) {
		got := map[int32]bool{}
		for _, p := range have {
			got[p.Number] = true
		}
		var missing []string
		for n := int32(1); int(n) <= len(f.Multipart.PartSHA256); n++ {
			if !got[n] {
				missing = append(missing, strconv.Itoa(int(n)))
			}
		}
		list := strings.Join(missing[:min(len(missing), 20)], ", ")
		if len(missing) > 20 {
			list += ", …"
		}
		return problem.New(problem.Conflict, "upload_incomplete", fmt.Sprintf(
			"%d of %d parts are not in storage yet (%s): PUT them (GET /v1/files/%s/upload lists them with fresh URLs), then confirm.",
			len(missing), len(f.Multipart.PartSHA256), list, f.ID))
	}
	if err := s.cfg.Multipart.CompleteMultipart(ctx, f.ObjectKey, f.Multipart.ID, have); err != nil {
		return Unavailable("storage_unavailable", "Object storage", err)
	}
	return nil
}

// maxAborts bounds the expired multipart uploads aborted per call.
const maxAborts = 100

// AbortExpiredUploads discards the parts of multipart uploads whose expiry
// passed without a confirm, so that storage does not keep (and bill) them.
// It returns how many it aborted. The reconciler calls it.
func (s *Service) AbortExpiredUploads(ctx context.Context) (int, error) {
	if s.cfg.Multipart == nil {
		return 0, nil
	}
	expired, err := s.store.ExpiredMultiparts(ctx, time.Now(), maxAborts)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range expired {
		if err := s.cfg.Multipart.AbortMultipart(ctx, f.ObjectKey, f.Multipart.ID); err != nil {
			return n, err
		}
		if err := s.store.ClearMultipart(ctx, f.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
