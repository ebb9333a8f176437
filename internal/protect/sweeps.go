package protect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/intellidox/intellidox/internal/problem"
	"github.com/intellidox/intellidox/internal/rest"
)

// Sweep is rest.Sweep.
type Sweep = rest.Sweep

// SweepRequest is rest.SweepRequest.
type SweepRequest = rest.SweepRequest

// Sweep statuses.
const (
	SweepListing = "listing" // pages remain to be listed
	SweepListed  = "listed"  // every page is queued; objects remain
	SweepDone    = "done"
	SweepFailed  = "failed"
)

// ErrSweepNotFound is any sweep the tenant cannot see.
var ErrSweepNotFound = problem.New(problem.NotFound, "not_found", "No sweep with this id exists.")

// SweepStore keeps sweeps.
type SweepStore interface {
	CreateSweep(ctx context.Context, tenant, by string, r SweepRequest, id string) (Sweep, error)
	// GetSweep returns the tenant's sweep with its progress, or
	// ErrSweepNotFound.
	GetSweep(ctx context.Context, tenant, id string) (Sweep, error)
	ListSweeps(ctx context.Context, tenant string, limit int) ([]Sweep, error)
	// ClaimSweep leases a sweep with pages left to list, if any: the page
	// token to list from and the sweep's own filters.
	ClaimSweep(ctx context.Context, lease time.Duration) (*ClaimedSweep, error)
	// SavePage queues a page's selected objects and records the next page
	// token (last: there is none) in one transaction, renewing the lease.
	SavePage(ctx context.Context, id string, listed int, selected []Object, next string, last bool, lease time.Duration) error
	// Pending counts the sweep's queued and running discoveries.
	Pending(ctx context.Context, id string) (int, error)
	// FailSweep ends a sweep that cannot list.
	FailSweep(ctx context.Context, id, reason string) error
	// FinishSweeps marks listed sweeps without pending discoveries done.
	FinishSweeps(ctx context.Context) error
}

// ClaimedSweep is a sweep leased for listing.
type ClaimedSweep struct {
	ID, Tenant, Bucket, Prefix string
	Include, Exclude           []string
	Token                      string
}

// MaxPrefixBytes bounds a sweep's prefix (S3 keys are at most 1024 bytes).
const MaxPrefixBytes = 1024

// StartSweep records a sweep of bucket/prefix for tenant; the sweep runner
// of some replica lists it.
func (s *Service) StartSweep(ctx context.Context, tenant, by string, r SweepRequest) (Sweep, error) {
	r.Bucket, _ = strings.CutPrefix(r.Bucket, "s3://")
	switch {
	case r.Bucket == "":
		return Sweep{}, problem.Field("missing_field", "bucket", "bucket is required.")
	case len(r.Prefix) > MaxPrefixBytes:
		return Sweep{}, problem.Field("invalid_prefix", "prefix", fmt.Sprintf("prefix must be at most %d bytes.", MaxPrefixBytes))
	case !s.cfg.Rules.Allows(tenant, r.Bucket):
		// The same answer whether the bucket exists, is another tenant's
		// or is not protected at all.
		return Sweep{}, problem.New(problem.Forbidden, "bucket_not_protected",
			"No protection rule of this tenant covers bucket "+r.Bucket+" (PROTECTED_BUCKETS): only protected buckets can be swept.")
	}
	if err := ValidPatterns(r.Include); err != nil {
		return Sweep{}, problem.Field("invalid_pattern", "include", err.Error())
	}
	if err := ValidPatterns(r.Exclude); err != nil {
		return Sweep{}, problem.Field("invalid_pattern", "exclude", err.Error())
	}
	sw, err := s.store.CreateSweep(ctx, tenant, by, r, uuid.NewString())
	if err == nil {
		s.wakeSweeps()
	}
	return sw, err
}

// GetSweep returns a sweep's progress.
func (s *Service) GetSweep(ctx context.Context, tenant, id string) (Sweep, error) {
	if uuid.Validate(id) != nil {
		return Sweep{}, ErrSweepNotFound
	}
	return s.store.GetSweep(ctx, tenant, id)
}

// ListSweeps returns the tenant's latest sweeps.
func (s *Service) ListSweeps(ctx context.Context, tenant string) ([]Sweep, error) {
	return s.store.ListSweeps(ctx, tenant, 100)
}

func (s *Service) wakeSweeps() { s.Wake() }

// sweep lists the sweeps of every replica, one page at a time, one sweep at
// a time per replica, keeping at most two pages of its objects waiting.
func (s *Service) sweep(ctx context.Context) {
	lease := s.cfg.Lease
	for ctx.Err() == nil {
		if err := s.store.FinishSweeps(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "finish sweeps", "err", err)
		}
		c, err := s.store.ClaimSweep(ctx, lease)
		if err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "claim sweep", "err", err)
		}
		if c == nil {
			sleep(ctx, time.Second)
			continue
		}
		if err := s.list(ctx, c); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "sweep listing paused", "sweep", c.ID, "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// list queues a claimed sweep's pages until it is listed.
func (s *Service) list(ctx context.Context, c *ClaimedSweep) error {
	token := c.Token
	for failures := 0; ; {
		pending, err := s.store.Pending(ctx, c.ID)
		if err != nil {
			return err
		}
		if pending >= 2*s.cfg.PageSize {
			// Wait for the workers, renewing the lease with an empty page.
			if err := s.store.SavePage(ctx, c.ID, 0, nil, token, false, s.cfg.Lease); err != nil {
				return err
			}
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		objs, next, err := s.src.List(ctx, c.Bucket, c.Prefix, token, s.cfg.PageSize)
		if errors.Is(err, ErrGone) {
			return s.store.FailSweep(ctx, c.ID, "bucket "+c.Bucket+" does not exist")
		}
		if err != nil {
			if failures++; failures >= s.cfg.MaxAttempts {
				return s.store.FailSweep(ctx, c.ID, "listing failed: "+err.Error())
			}
			sleep(ctx, time.Duration(failures)*time.Second)
			continue
		}
		failures = 0
		var selected []Object
		for _, o := range objs {
			if Selected(o.Key, c.Include, c.Exclude) && s.cfg.Rules.CoversFor(c.Tenant, c.Bucket, o.Key) {
				selected = append(selected, o)
			}
		}
		if err := s.store.SavePage(ctx, c.ID, len(objs), selected, next, next == "", s.cfg.Lease); err != nil {
			return err
		}
		if len(selected) > 0 {
			s.Wake()
		}
		if next == "" {
			return nil
		}
		token = next
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
