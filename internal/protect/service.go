package protect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/intellidox/intellidox/internal/files"
)

// Errors a Source returns.
var (
	// ErrChanged: the object is not the version asked for any more.
	ErrChanged = errors.New("object changed")
	// ErrGone: the object does not exist.
	ErrGone = errors.New("object not found")
)

// Source reads protected buckets (objstore.Store, with aws-sdk-go-v2).
type Source interface {
	// List returns up to max objects of bucket under prefix after the
	// page token, and the next page's token ("" after the last).
	List(ctx context.Context, bucket, prefix, token string, max int) ([]Object, string, error)
	// Open reads the object if its ETag is still etag (ErrChanged if not).
	Open(ctx context.Context, bucket, key, etag string) (io.ReadCloser, error)
	// Head returns the object's current version.
	Head(ctx context.Context, bucket, key string) (Object, error)
	// CopyIn copies the object, if its ETag is still o.ETag, to key in the
	// upload bucket.
	CopyIn(ctx context.Context, o Object, key string) error
}

// Files turns a read object into an upload (files.Service).
type Files interface {
	Discover(ctx context.Context, d files.Discovered) (files.File, bool, error)
}

// Discovery is a queued object version.
type Discovery struct {
	ID       int64
	Tenant   string
	Object   Object
	SweepID  string
	UploadID string
	Attempts int
}

// Outcomes of a discovery.
const (
	OutcomeUploaded = "uploaded" // bytes copied and handed to the pipeline
	OutcomeKnown    = "known"    // the tenant owns the content: no bytes needed
	OutcomeChanged  = "changed"  // replaced while read: its new version is queued
	OutcomeGone     = "gone"     // deleted before it was read
	OutcomeSkipped  = "skipped"  // not a file, too large, or no longer protected
	OutcomeFailed   = "failed"   // MaxAttempts errors
)

// Store keeps the queue and the sweeps (pgstore).
type Store interface {
	// Queue adds object versions for tenant, ignoring those already
	// queued; it returns how many were new.
	Queue(ctx context.Context, tenant, sweepID string, objs []Object) (int, error)
	// Claim leases up to limit queued (or abandoned) discoveries.
	Claim(ctx context.Context, limit int, lease time.Duration) ([]Discovery, error)
	// Extend renews a claim.
	Extend(ctx context.Context, id int64, lease time.Duration) error
	// Finish ends a discovery with outcome (and the content's SHA-256 when
	// known, reason when skipped or failed).
	Finish(ctx context.Context, id int64, outcome, sha256, reason string) error
	// Retry puts a discovery back in the queue after an error, to be tried
	// again after delay.
	Retry(ctx context.Context, id int64, reason string, delay time.Duration) error
	// ReadFor returns the discoveries that became upload uploadID.
	ReadFor(ctx context.Context, uploadID string) ([]Discovery, error)
	SweepStore
}

// Config tunes the service.
type Config struct {
	Rules       Rules
	Workers     int           // objects read at once (default 4)
	Lease       time.Duration // how long a claim lasts unrenewed (default 1 min)
	MaxSize     int64         // larger objects are skipped (files.Config.MaxSize)
	MaxAttempts int           // errors before a discovery fails (default 5)
	PageSize    int           // objects per listing page (default 1000)
}

// Service runs the queue and the sweeps.
type Service struct {
	store Store
	src   Source
	files Files
	cfg   Config
	log   *slog.Logger
	wake  chan struct{}
}

// New returns a Service; Run starts its work.
func New(store Store, src Source, f Files, cfg Config, log *slog.Logger) *Service {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.PageSize <= 0 || cfg.PageSize > 1000 {
		cfg.PageSize = 1000
	}
	return &Service{store: store, src: src, files: f, cfg: cfg, log: log, wake: make(chan struct{}, 1)}
}

// Rules returns the protection rules.
func (s *Service) Rules() Rules { return s.cfg.Rules }

// OnEvent queues the objects an S3 event notification announces, for each
// tenant whose rules cover them. Objects no rule covers (other buckets, the
// upload bucket's own writes) are ignored.
func (s *Service) OnEvent(ctx context.Context, data []byte) error {
	objs, err := ParseEvent(data)
	if err != nil {
		return err
	}
	byTenant := map[string][]Object{}
	for _, o := range objs {
		if o, err = s.resolveKey(ctx, o); err != nil {
			return err
		}
		for _, r := range s.cfg.Rules.For(o.Bucket, o.Key) {
			byTenant[r.Tenant] = append(byTenant[r.Tenant], o)
		}
	}
	for tenant, objs := range byTenant {
		n, err := s.store.Queue(ctx, tenant, "", objs)
		if err != nil {
			return err
		}
		s.log.InfoContext(ctx, "storage event queued", "tenant", tenant, "objects", len(objs), "new", n)
	}
	if len(byTenant) > 0 {
		s.Wake()
	}
	return nil
}

// resolveKey finds which key an event means. S3 form-encodes keys in its
// notifications (in%2Fa+b.pdf for "in/a b.pdf"); versitygw sends them as
// they are; both say eventSource aws:s3. A key that decodes to another is
// the decoded one if that object exists with the event's ETag.
func (s *Service) resolveKey(ctx context.Context, o Object) (Object, error) {
	d := DecodedKey(o.Key)
	if d == "" {
		return o, nil
	}
	cur, err := s.src.Head(ctx, o.Bucket, d)
	switch {
	case errors.Is(err, ErrGone):
		return o, nil
	case err != nil:
		return o, err
	case o.ETag == "" || cur.ETag == o.ETag:
		o.Key = d
	}
	return o, nil
}

// Wake tells idle workers there is work.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run works the queue and the sweeps until ctx ends.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Go(func() { s.work(ctx) })
	}
	wg.Go(func() { s.sweep(ctx) })
	wg.Wait()
}

func (s *Service) work(ctx context.Context) {
	for ctx.Err() == nil {
		ds, err := s.store.Claim(ctx, 1, s.cfg.Lease)
		if err != nil {
			s.log.WarnContext(ctx, "claim discoveries", "err", err)
		}
		if len(ds) == 0 {
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		// Several discoveries may be waiting: let another idle worker look.
		s.Wake()
		s.handle(ctx, ds[0])
	}
}

// handle ingests one discovery and records how it ended.
func (s *Service) handle(ctx context.Context, d Discovery) {
	log := s.log.With("bucket", d.Object.Bucket, "key", d.Object.Key, "tenant", d.Tenant)
	outcome, sum, reason, err := s.ingest(ctx, d)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: the claim lapses and another replica takes it
		}
		if d.Attempts >= s.cfg.MaxAttempts {
			log.ErrorContext(ctx, "discovery failed", "attempts", d.Attempts, "err", err)
			err = s.store.Finish(ctx, d.ID, OutcomeFailed, sum, err.Error())
		} else {
			log.WarnContext(ctx, "discovery will be retried", "attempts", d.Attempts, "err", err)
			err = s.store.Retry(ctx, d.ID, err.Error(), time.Duration(d.Attempts)*5*time.Second)
		}
	} else {
		log.DebugContext(ctx, "discovery done", "outcome", outcome, "sha256", sum)
		err = s.store.Finish(ctx, d.ID, outcome, sum, reason)
	}
	if err != nil {
		log.WarnContext(ctx, "record discovery", "err", err) // the claim lapses; it is tried again
	}
}

func (s *Service) ingest(ctx context.Context, d Discovery) (outcome, sum, reason string, err error) {
	o := d.Object
	switch {
	case !s.cfg.Rules.CoversFor(d.Tenant, o.Bucket, o.Key):
		return OutcomeSkipped, "", "no protection rule of the tenant covers it any more", nil
	case strings.HasSuffix(o.Key, "/") && o.Size == 0:
		return OutcomeSkipped, "", "a folder marker, not a file", nil
	case s.cfg.MaxSize > 0 && o.Size > s.cfg.MaxSize:
		return OutcomeSkipped, "", fmt.Sprintf("%d bytes exceeds MAX_FILE_SIZE (%d)", o.Size, s.cfg.MaxSize), nil
	}
	// Keep the claim while reading: a large object takes longer than it.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go s.renew(ctx, d.ID)

	rc, err := s.src.Open(ctx, o.Bucket, o.Key, o.ETag)
	switch {
	case errors.Is(err, ErrGone):
		return OutcomeGone, "", "", nil
	case errors.Is(err, ErrChanged):
		return s.changed(ctx, d, o)
	case err != nil:
		return "", "", "", err
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil {
		return "", "", "", fmt.Errorf("read %s/%s: %w", o.Bucket, o.Key, err)
	}
	if n != o.Size {
		// Listed or announced with another size: a newer version.
		return s.changed(ctx, d, o)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	_, copied, err := s.files.Discover(ctx, files.Discovered{
		Tenant: d.Tenant, UploadID: d.UploadID, Key: o.Key, Size: o.Size, SHA256: sum,
		CopyTo: func(ctx context.Context, key string) error { return s.src.CopyIn(ctx, o, key) },
	})
	switch {
	case errors.Is(err, ErrChanged):
		return s.changed(ctx, d, o)
	case errors.Is(err, ErrGone):
		return OutcomeGone, sum, "", nil
	case err != nil:
		return "", sum, "", err
	case copied:
		return OutcomeUploaded, sum, "", nil
	}
	return OutcomeKnown, sum, "", nil
}

// changed queues the object's current version in place of the one that was
// read: what was read of the old one is discarded.
func (s *Service) changed(ctx context.Context, d Discovery, o Object) (string, string, string, error) {
	cur, err := s.src.Head(ctx, o.Bucket, o.Key)
	if errors.Is(err, ErrGone) {
		return OutcomeGone, "", "", nil
	}
	if err != nil {
		return "", "", "", err
	}
	if _, err := s.store.Queue(ctx, d.Tenant, d.SweepID, []Object{cur}); err != nil {
		return "", "", "", err
	}
	s.Wake()
	return OutcomeChanged, "", "replaced while read; version " + cur.ETag + " queued", nil
}

// Recheck looks, once upload uploadID is judged, at the objects it was
// read from: one replaced while it was judged has its new version queued
// (the verdict stays with the version that was read, whose copy was
// scanned). Uploads that came through the api have none.
func (s *Service) Recheck(ctx context.Context, uploadID string) error {
	ds, err := s.store.ReadFor(ctx, uploadID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		cur, err := s.src.Head(ctx, d.Object.Bucket, d.Object.Key)
		switch {
		case errors.Is(err, ErrGone):
			continue
		case err != nil:
			return err
		case cur.ETag == d.Object.ETag || !s.cfg.Rules.CoversFor(d.Tenant, cur.Bucket, cur.Key):
			continue
		}
		n, err := s.store.Queue(ctx, d.Tenant, d.SweepID, []Object{cur})
		if err != nil {
			return err
		}
		if n > 0 {
			s.log.InfoContext(ctx, "object changed while judged; its new version is queued",
				"bucket", cur.Bucket, "key", cur.Key, "etag", cur.ETag, "judged_etag", d.Object.ETag)
			s.Wake()
		}
	}
	return nil
}

func (s *Service) renew(ctx context.Context, id int64) {
	t := time.NewTicker(s.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.store.Extend(ctx, id, s.cfg.Lease); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "extend discovery claim", "id", id, "err", err)
			}
		}
	}
}
