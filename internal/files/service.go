package files

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/rest"
)

// Errors with stable codes that the store and the service return.
var (
	ErrNotFound     = problem.New(problem.NotFound, "not_found", "No file with this id exists.")
	ErrSizeConflict = problem.Field("size_conflict", "size",
		"Content with this sha256 is already stored with a different size.")
	ErrBadCursor = problem.Field("invalid_cursor", "cursor", "cursor is not one this api issued.")
	ErrNotReady  = problem.New(problem.Conflict, "not_ready",
		"The file's bytes have not been verified yet: it cannot be rescanned before its first scan.")
)

// Unavailable wraps a failure of a dependency the client cannot fix.
func Unavailable(code, what string, err error) error {
	return problem.Wrap(problem.Unavailable, code, what+" is unavailable; try again shortly.", err)
}

// Presigner issues uploads bound to size and hash.
type Presigner interface {
	PresignPut(ctx context.Context, key string, size int64, sha256Hex string, ttl time.Duration) (Upload, error)
}

// Objects tells whether an object is in storage.
type Objects interface {
	ObjectSize(ctx context.Context, key string) (size int64, found bool, err error)
}

// Relay publishes queued outbox rows now. It is best effort: rows it cannot
// publish stay queued for the background relay.
type Relay interface {
	Relay(ctx context.Context, ids []int64)
}

// Config holds the service's limits.
type Config struct {
	MaxSize    int64         // largest accepted file, in bytes
	PresignTTL time.Duration // lifetime of an upload URL
	// RescanLookback bounds automatic rescans after a signature update to
	// content scanned this recently.
	RescanLookback time.Duration
	// Sealer seals uploads' password lists; without one, an upload that
	// brings passwords is refused with passwords_unavailable.
	Sealer Sealer
	// Multipart runs uploads in parts (multipart.go); nil takes every
	// upload in one PUT.
	Multipart Multiparts
	// MultipartThreshold is the size over which an upload must come in
	// parts (default 64 MiB); MultipartTTL how long an upload in parts
	// may wait for them, renewed by each GET of its state (default 24 h).
	MultipartThreshold int64
	MultipartTTL       time.Duration
}

// Service implements the file use cases.
type Service struct {
	store   Store
	presign Presigner
	objects Objects
	relay   Relay
	decider Decider
	cfg     Config
}

// NewService wires a Service.
func NewService(store Store, presign Presigner, objects Objects, relay Relay, decider Decider, cfg Config) *Service {
	return &Service{store: store, presign: presign, objects: objects, relay: relay, decider: decider, cfg: cfg}
}

// CreateRequest is the body of POST /v1/files. Pointers tell a missing field
// from a zero one.
type CreateRequest struct {
	Name        *string `json:"name"`
	Size        *int64  `json:"size"`
	SHA256      *string `json:"sha256"`
	ContentType *string `json:"contentType"`
	// ArchivePasswords are tried, after the tenant's list and the built-in
	// one, on this upload's encrypted archives and PDFs. Write-only.
	ArchivePasswords []string `json:"archivePasswords"`
	// PartSize and PartSHA256 send the file in parts (required over the
	// multipart threshold): every part PartSize bytes but the last, and
	// the SHA-256 of each, in order.
	PartSize   *int64   `json:"partSize"`
	PartSHA256 []string `json:"partSha256"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// MaxNameBytes bounds a file name.
const MaxNameBytes = 255

func (s *Service) validate(r CreateRequest) (NewUpload, error) {
	var u NewUpload
	switch {
	case r.Name == nil:
		return u, problem.Field("missing_field", "name", "name is required.")
	case r.Size == nil:
		return u, problem.Field("missing_field", "size", "size is required.")
	case r.SHA256 == nil:
		return u, problem.Field("missing_field", "sha256", "sha256 is required.")
	}
	if err := validName(*r.Name); err != nil {
		return u, err
	}
	if *r.Size < 0 {
		return u, problem.Field("invalid_size", "size", "size must be a number of bytes, 0 or more.")
	}
	if *r.Size > s.cfg.MaxSize {
		return u, &problem.Error{Kind: problem.TooLarge, Code: "file_too_large", Field: "size",
			Detail: fmt.Sprintf("size %d exceeds the maximum of %d bytes.", *r.Size, s.cfg.MaxSize)}
	}
	if err := ValidatePasswords("archivePasswords", r.ArchivePasswords); err != nil {
		return u, err
	}
	if !sha256Hex.MatchString(*r.SHA256) {
		return u, problem.Field("invalid_sha256", "sha256", "sha256 must be 64 hexadecimal digits.")
	}
	mp, err := s.multipart(r, *r.Size)
	if err != nil {
		return u, err
	}
	ct := ""
	if r.ContentType != nil && *r.ContentType != "" {
		mt, params, err := mime.ParseMediaType(*r.ContentType)
		if err != nil || len(*r.ContentType) > 255 {
			return u, problem.Field("invalid_content_type", "contentType", "contentType must be a media type such as application/pdf.")
		}
		ct = mime.FormatMediaType(mt, params)
	}
	return NewUpload{
		ID:          uuid.NewString(),
		Name:        *r.Name,
		Size:        *r.Size,
		SHA256:      strings.ToLower(*r.SHA256),
		ContentType: ct,
		ObjectKey:   "blobs/" + uuid.NewString(),
		Multipart:   mp,
	}, nil
}

func validName(n string) error {
	bad := func(detail string) error { return problem.Field("invalid_name", "name", detail) }
	switch {
	case strings.TrimSpace(n) == "":
		return bad("name must not be empty.")
	case len(n) > MaxNameBytes:
		return bad(fmt.Sprintf("name must be at most %d bytes.", MaxNameBytes))
	case !utf8.ValidString(n):
		return bad("name must be valid UTF-8.")
	case strings.ContainsAny(n, `/\`), n == ".", n == "..":
		return bad("name must be a plain file name, without path separators.")
	}
	for _, r := range n {
		if unicode.IsControl(r) || r == '\uFEFF' || unicode.Is(unicode.Bidi_Control, r) {
			return bad("name must not contain control characters.")
		}
	}
	return nil
}

// Create records an upload request. Content the tenant already owns gets no
// upload URL: its results exist or are on their way. Any other content,
// whoever else has it, gets one (possession.go).
func (s *Service) Create(ctx context.Context, tenant string, r CreateRequest) (Created, error) {
	u, err := s.validate(r)
	if err != nil {
		return Created{}, err
	}
	u.Tenant = tenant
	u.ExpiresAt = time.Now().Add(s.cfg.PresignTTL)
	if u.Multipart != nil {
		u.ExpiresAt = time.Now().Add(s.multipartTTL())
		if u.Multipart.ID, err = s.cfg.Multipart.StartMultipart(ctx, u.ObjectKey); err != nil {
			return Created{}, Unavailable("storage_unavailable", "Object storage", err)
		}
	}
	if len(r.ArchivePasswords) > 0 {
		sealed, err := seal(ctx, s.cfg.Sealer, contract.PasswordsUpload, r.ArchivePasswords)
		if err != nil {
			return Created{}, err
		}
		u.Passwords = &sealed.Sealed
	}
	f, err := s.store.CreateUpload(ctx, u)
	if err != nil || f.Status != AwaitingUpload {
		if u.Multipart != nil {
			// Not needed after all (the tenant owns the content), or not
			// recorded: nothing will confirm it. Best effort: the bucket's
			// lifecycle rule for incomplete uploads is the backstop.
			_ = s.cfg.Multipart.AbortMultipart(ctx, u.ObjectKey, u.Multipart.ID)
		}
	}
	if err != nil {
		return Created{}, err
	}
	out := Created{ID: f.ID, Status: f.Status, SHA256: f.SHA256}
	if f.Status != AwaitingUpload {
		return out, nil
	}
	if u.Multipart != nil {
		f.Multipart, f.ExpiresAt = u.Multipart, u.ExpiresAt
		if out.Upload, err = s.presignParts(ctx, f, nil); err != nil {
			return Created{}, err
		}
		return out, nil
	}
	up, err := s.presign.PresignPut(ctx, f.ObjectKey, f.Size, f.SHA256, s.cfg.PresignTTL)
	if err != nil {
		return Created{}, problem.Wrap(problem.Internal, "presign_failed", "Could not issue an upload URL.", err)
	}
	out.Upload = &up
	return out, nil
}

// Confirm tells IntelliDox the bytes are in storage. It is idempotent. The
// upload's own object is checked whatever the state of its content: another
// upload of the same bytes, by any tenant, proves nothing for this one.
func (s *Service) Confirm(ctx context.Context, tenant, id string) (File, error) {
	f, err := s.store.Get(ctx, tenant, id)
	if err != nil {
		return File{}, err
	}
	if f.Status != AwaitingUpload {
		return f, nil
	}
	if f.Multipart != nil && s.cfg.Multipart != nil {
		if err := s.completeParts(ctx, f); err != nil {
			return File{}, err
		}
	}
	size, found, err := s.objects.ObjectSize(ctx, f.ObjectKey)
	switch {
	case err != nil:
		return File{}, Unavailable("storage_unavailable", "Object storage", err)
	case !found && time.Now().After(f.ExpiresAt):
		return File{}, problem.New(problem.Gone, "upload_expired",
			"The upload URL expired before the bytes arrived: create the file again for a new URL.")
	case !found:
		return File{}, problem.New(problem.Conflict, "upload_missing",
			"The bytes are not in storage yet: PUT them to the upload URL, then confirm.")
	case size != f.Size:
		return File{}, problem.New(problem.Conflict, "size_mismatch",
			fmt.Sprintf("Storage holds %d bytes, but %d were declared.", size, f.Size))
	}
	return s.confirmStored(ctx, f)
}

// confirmStored confirms the upload f, whose bytes are in storage.
func (s *Service) confirmStored(ctx context.Context, f File) (File, error) {
	err := s.update(ctx, Key{SHA256: f.SHA256, Uploads: []string{f.ID}}, func(c *Content) error {
		if err := c.Confirm(f.ID); err != nil {
			return err
		}
		u := c.Upload(f.ID)
		f.Status, f.BlobState, f.UpdatedAt = u.Status, c.State, c.Now
		if u.Status == Done {
			f.Verdict = c.Verdict
		}
		return nil
	})
	if err != nil {
		return File{}, err
	}
	return f, nil
}

// Get returns one file.
func (s *Service) Get(ctx context.Context, tenant, id string) (File, error) {
	return s.store.Get(ctx, tenant, id)
}

// Scans returns the per-engine results of a file's content.
func (s *Service) Scans(ctx context.Context, tenant, id string) (Scans, error) {
	f, err := s.store.Get(ctx, tenant, id)
	if err != nil {
		return Scans{}, err
	}
	return s.ScansOf(ctx, f)
}

// ScansOf is Scans of a file already read (with Get), saving the read.
func (s *Service) ScansOf(ctx context.Context, f File) (Scans, error) {
	if !f.Owned {
		return s.unprovenScans(), nil
	}
	results, err := s.store.Results(ctx, f.SHA256)
	if err != nil {
		return Scans{}, err
	}
	v, complete := s.decider.Decide(results, findingsOf(f))
	out := Scans{Verdict: f.Verdict, Complete: complete, Engines: results, Pending: []string{}}
	if f.Status == Done {
		out.Verdict = v
	}
	out.Pending = s.decider.Missing(results)
	if out.Engines == nil {
		out.Engines = []contract.Result{}
	}
	return out, nil
}

// OnExtracted records the extractor's findings.
func (s *Service) OnExtracted(ctx context.Context, ev contract.FileExtracted) error {
	return s.update(ctx, Key{SHA256: ev.SHA256}, func(c *Content) error {
		c.Extracted(ev, s.decider)
		return nil
	})
}

// OnScanCompleted records one engine's result.
func (s *Service) OnScanCompleted(ctx context.Context, ev contract.ScanCompleted) error {
	return s.update(ctx, Key{SHA256: ev.SHA256}, func(c *Content) error {
		c.Scanned(ev, s.decider)
		return nil
	})
}

// findingsOf reads the extractor's findings from a file's metadata.
func findingsOf(f File) []contract.Finding {
	var m struct {
		Findings []contract.Finding `json:"findings"`
	}
	_ = json.Unmarshal(f.Metadata, &m)
	return m.Findings
}

// ListRequest is the query string of GET /v1/files.
type ListRequest struct {
	Q, SHA256, SHA1, MD5, Cursor, Limit string
}

// Page is one page of files (rest.Page).
type Page = rest.Page

// MaxPage bounds a page of files.
const MaxPage = 100

// List returns the tenant's files matching r.
func (s *Service) List(ctx context.Context, tenant string, r ListRequest) (Page, error) {
	q := Query{Text: strings.TrimSpace(r.Q), Cursor: r.Cursor, Limit: 20}
	if len(q.Text) > 256 {
		return Page{}, problem.Field("invalid_query", "q", "q must be at most 256 bytes.")
	}
	for _, h := range []struct {
		field, value string
		n            int
		dst          *string
	}{{"sha256", r.SHA256, 64, &q.SHA256}, {"sha1", r.SHA1, 40, &q.SHA1}, {"md5", r.MD5, 32, &q.MD5}} {
		if h.value == "" {
			continue
		}
		if !isHex(h.value, h.n) {
			return Page{}, problem.Field("invalid_"+h.field, h.field, fmt.Sprintf("%s must be %d hexadecimal digits.", h.field, h.n))
		}
		*h.dst = strings.ToLower(h.value)
	}
	if r.Limit != "" {
		n, err := strconv.Atoi(r.Limit)
		if err != nil || n < 1 || n > MaxPage {
			return Page{}, problem.Field("invalid_limit", "limit", fmt.Sprintf("limit must be between 1 and %d.", MaxPage))
		}
		q.Limit = n
	}
	items, next, err := s.store.List(ctx, tenant, q)
	if err != nil {
		return Page{}, err
	}
	p := Page{Items: make([]rest.File, len(items))}
	for i, f := range items {
		p.Items[i] = f.Wire()
	}
	if next != "" {
		p.NextCursor = &next
	}
	return p, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// RescanRequest is the body of POST /v1/files/{id}/rescan.
type RescanRequest = rest.RescanRequest

var engineName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Rescan asks the engines to scan a file's content again. Engines whose
// signatures have not changed answer from their cache.
func (s *Service) Rescan(ctx context.Context, tenant, id string, r RescanRequest) (File, error) {
	if len(r.Engines) > 32 {
		return File{}, problem.Field("invalid_engines", "engines", "engines lists too many engines.")
	}
	for _, e := range r.Engines {
		if !engineName.MatchString(e) {
			return File{}, problem.Field("invalid_engines", "engines", fmt.Sprintf("%q is not an engine name.", e))
		}
	}
	f, err := s.store.Get(ctx, tenant, id)
	if err != nil {
		return File{}, err
	}
	err = s.update(ctx, Key{SHA256: f.SHA256, Uploads: []string{f.ID}}, func(c *Content) error {
		return c.Rescan(tenant, f.ID, r.Engines)
	})
	if err != nil {
		return File{}, err
	}
	return f, nil
}

// OnEngineUpdated queues a rescan by that engine of every content it scanned
// within the look-back window with older signatures. Each batch is its own
// transaction, so a crash part-way leaves the rest for a redelivery.
func (s *Service) OnEngineUpdated(ctx context.Context, ev contract.EngineUpdated) (int, error) {
	since := time.Now().Add(-s.cfg.RescanLookback)
	total := 0
	for {
		ids, err := s.store.RescanStale(ctx, ev.Engine, ev.SignatureVersion, since, 500)
		if err != nil {
			return total, err
		}
		s.relay.Relay(ctx, ids)
		total += len(ids)
		if len(ids) < 500 {
			return total, nil
		}
	}
}

// History returns the verdicts a file's content has had, oldest first.
func (s *Service) History(ctx context.Context, tenant, id string) ([]VerdictChange, error) {
	f, err := s.store.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if !f.Owned {
		return []VerdictChange{}, nil
	}
	h, err := s.store.History(ctx, f.SHA256)
	if h == nil && err == nil {
		h = []VerdictChange{}
	}
	return h, err
}

// RelayNow publishes queued outbox rows written outside the file use cases
// (dead-letter re-drives).
func (s *Service) RelayNow(ctx context.Context, ids []int64) { s.relay.Relay(ctx, ids) }
