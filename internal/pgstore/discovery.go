package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/protect"
)

// The queue of discovered objects and the sweeps that fill it
// (protect.Store). Claims are leases: a replica that dies mid-read loses its
// claim when the lease ends and another replica reads the object again.

// insertDiscoveries queues object versions not queued yet. A sweep that
// lists a version a storage event queued first (no sweep) adopts it, so
// that the sweep accounts for every object it matched; one that an earlier
// sweep queued stays that sweep's, and is not counted again.
const insertDiscoveries = `
INSERT INTO discoveries (tenant, bucket, key, etag, size, sweep_id, upload_id)
SELECT $1, $2, o.key, o.etag, o.size, $3, o.upload_id
FROM unnest($4::text[], $5::text[], $6::bigint[], $7::uuid[]) AS o(key, etag, size, upload_id)
ON CONFLICT (tenant, bucket, key, etag) DO UPDATE SET sweep_id = EXCLUDED.sweep_id
WHERE discoveries.sweep_id IS NULL AND EXCLUDED.sweep_id IS NOT NULL`

// queueIn runs insertDiscoveries for objects of one bucket at a time.
func queueIn(ctx context.Context, tx pgx.Tx, tenant, sweepID string, objs []protect.Object) (int, error) {
	byBucket := map[string][]protect.Object{}
	for _, o := range objs {
		byBucket[o.Bucket] = append(byBucket[o.Bucket], o)
	}
	var sweep any
	if sweepID != "" {
		sweep = sweepID
	}
	n := 0
	for bucket, objs := range byBucket {
		keys, etags, sizes, ids := make([]string, len(objs)), make([]string, len(objs)), make([]int64, len(objs)), make([]string, len(objs))
		for i, o := range objs {
			keys[i], etags[i], sizes[i], ids[i] = o.Key, o.ETag, o.Size, uuid.NewString()
		}
		tag, err := tx.Exec(ctx, insertDiscoveries, tenant, bucket, sweep, keys, etags, sizes, ids)
		if err != nil {
			return n, err
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

// Queue implements protect.Store.
func (s *Store) Queue(ctx context.Context, tenant, sweepID string, objs []protect.Object) (int, error) {
	var n int
	err := s.withTx(ctx, "queue discoveries", func(tx pgx.Tx) (err error) {
		n, err = queueIn(ctx, tx, tenant, sweepID, objs)
		return err
	})
	return n, err
}

const claimDiscoveries = `
WITH picked AS (
    SELECT id FROM discoveries
    WHERE status IN ('queued', 'running') AND (claimed_until IS NULL OR claimed_until <= now())
    ORDER BY id LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE discoveries d SET status = 'running', claimed_until = now() + $2::interval,
       attempts = d.attempts + 1, updated_at = now()
FROM picked WHERE d.id = picked.id
RETURNING d.id, d.tenant, d.bucket, d.key, d.etag, d.size, coalesce(d.sweep_id::text, ''), d.upload_id::text, d.attempts`

// Claim implements protect.Store.
func (s *Store) Claim(ctx context.Context, limit int, lease time.Duration) ([]protect.Discovery, error) {
	rows, err := s.pool.Query(ctx, claimDiscoveries, limit, lease.String())
	if err != nil {
		return nil, classify("claim discoveries", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (protect.Discovery, error) {
		var d protect.Discovery
		err := r.Scan(&d.ID, &d.Tenant, &d.Object.Bucket, &d.Object.Key, &d.Object.ETag, &d.Object.Size,
			&d.SweepID, &d.UploadID, &d.Attempts)
		return d, err
	})
	return out, classify("claim discoveries", err)
}

// Extend implements protect.Store.
func (s *Store) Extend(ctx context.Context, id int64, lease time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE discoveries SET claimed_until = now() + $2::interval
		WHERE id = $1 AND status = 'running'`, id, lease.String())
	return classify("extend discovery", err)
}

// Finish implements protect.Store.
func (s *Store) Finish(ctx context.Context, id int64, outcome, sha256, reason string) error {
	status := "done"
	if outcome == protect.OutcomeFailed {
		status = "failed"
	}
	_, err := s.pool.Exec(ctx, `UPDATE discoveries SET status = $2, outcome = $3, sha256 = nullif($4, ''),
		error = nullif($5, ''), claimed_until = NULL, updated_at = now() WHERE id = $1`, id, status, outcome, sha256, reason)
	return classify("finish discovery", err)
}

// Retry implements protect.Store.
func (s *Store) Retry(ctx context.Context, id int64, reason string, delay time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE discoveries SET status = 'queued', error = $2,
		claimed_until = now() + $3::interval, updated_at = now() WHERE id = $1`, id, reason, delay.String())
	return classify("retry discovery", err)
}

// CreateSweep implements protect.SweepStore.
func (s *Store) CreateSweep(ctx context.Context, tenant, by string, r protect.SweepRequest, id string) (protect.Sweep, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO sweeps (id, tenant, bucket, prefix, include, exclude, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, tenant, r.Bucket, r.Prefix, nonNil(r.Include), nonNil(r.Exclude), by)
	if err != nil {
		return protect.Sweep{}, classify("create sweep", err)
	}
	return s.GetSweep(ctx, tenant, id)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const sweepColumns = `
SELECT s.id::text, s.bucket, s.prefix, s.include, s.exclude, s.status, coalesce(s.error, ''),
       s.listed, s.matched, s.created_at, s.updated_at, s.finished_at,
       coalesce((SELECT jsonb_object_agg(k, n) FROM (
           SELECT coalesce(d.outcome, d.status) AS k, count(*) AS n FROM discoveries d
           WHERE d.sweep_id = s.id GROUP BY 1) c), '{}'),
       coalesce((SELECT sum(d.attempts) FROM discoveries d WHERE d.sweep_id = s.id), 0)
FROM sweeps s`

func scanSweep(r pgx.Row) (protect.Sweep, error) {
	var sw protect.Sweep
	var counts map[string]int64
	err := r.Scan(&sw.ID, &sw.Bucket, &sw.Prefix, &sw.Include, &sw.Exclude, &sw.Status, &sw.Error,
		&sw.Listed, &sw.Matched, &sw.CreatedAt, &sw.UpdatedAt, &sw.FinishedAt, &counts, &sw.Reads)
	if err != nil {
		return sw, err
	}
	sw.Outcomes = map[string]int64{}
	for k, n := range counts {
		sw.Queued += n
		if k == "queued" || k == "running" {
			sw.Pending += n
		} else {
			sw.Outcomes[k] = n
		}
	}
	return sw, nil
}

// GetSweep implements protect.SweepStore.
func (s *Store) GetSweep(ctx context.Context, tenant, id string) (protect.Sweep, error) {
	sw, err := scanSweep(s.pool.QueryRow(ctx, sweepColumns+` WHERE s.id = $1 AND s.tenant = $2`, id, tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return sw, protect.ErrSweepNotFound
	}
	return sw, classify("get sweep", err)
}

// ListSweeps implements protect.SweepStore.
func (s *Store) ListSweeps(ctx context.Context, tenant string, limit int) ([]protect.Sweep, error) {
	rows, err := s.pool.Query(ctx, sweepColumns+` WHERE s.tenant = $1 ORDER BY s.created_at DESC LIMIT $2`, tenant, limit)
	if err != nil {
		return nil, classify("list sweeps", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (protect.Sweep, error) { return scanSweep(r) })
	return out, classify("list sweeps", err)
}

const claimSweep = `
WITH picked AS (
    SELECT id FROM sweeps
    WHERE status = 'listing' AND (claimed_until IS NULL OR claimed_until <= now())
    ORDER BY created_at LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE sweeps s SET claimed_until = now() + $1::interval, updated_at = now()
FROM picked WHERE s.id = picked.id
RETURNING s.id::text, s.tenant, s.bucket, s.prefix, s.include, s.exclude, coalesce(s.next_token, '')`

// ClaimSweep implements protect.SweepStore.
func (s *Store) ClaimSweep(ctx context.Context, lease time.Duration) (*protect.ClaimedSweep, error) {
	var c protect.ClaimedSweep
	err := s.pool.QueryRow(ctx, claimSweep, lease.String()).
		Scan(&c.ID, &c.Tenant, &c.Bucket, &c.Prefix, &c.Include, &c.Exclude, &c.Token)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify("claim sweep", err)
	}
	return &c, nil
}

// SavePage implements protect.SweepStore.
func (s *Store) SavePage(ctx context.Context, id string, listed int, selected []protect.Object, next string, last bool, lease time.Duration) error {
	return s.withTx(ctx, "save sweep page", func(tx pgx.Tx) error {
		var tenant string
		if err := tx.QueryRow(ctx, `SELECT tenant FROM sweeps WHERE id = $1 FOR UPDATE`, id).Scan(&tenant); err != nil {
			return err
		}
		if _, err := queueIn(ctx, tx, tenant, id, selected); err != nil {
			return err
		}
		status := protect.SweepListing
		if last {
			status = protect.SweepListed
		}
		_, err := tx.Exec(ctx, `UPDATE sweeps SET listed = listed + $2, matched = matched + $3, next_token = nullif($4, ''),
			status = $5, claimed_until = now() + $6::interval, updated_at = now() WHERE id = $1`,
			id, listed, len(selected), next, status, lease.String())
		return err
	})
}

// Pending implements protect.SweepStore.
func (s *Store) Pending(ctx context.Context, id string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM discoveries WHERE sweep_id = $1 AND status IN ('queued', 'running')`, id).Scan(&n)
	return n, classify("count pending", err)
}

// FailSweep implements protect.SweepStore.
func (s *Store) FailSweep(ctx context.Context, id, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE sweeps SET status = 'failed', error = $2, claimed_until = NULL,
		finished_at = now(), updated_at = now() WHERE id = $1`, id, reason)
	return classify("fail sweep", err)
}

// FinishSweeps implements protect.SweepStore.
func (s *Store) FinishSweeps(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `UPDATE sweeps s SET status = 'done', finished_at = now(), updated_at = now(), claimed_until = NULL
		WHERE s.status = 'listed' AND NOT EXISTS (
			SELECT 1 FROM discoveries d WHERE d.sweep_id = s.id AND d.status IN ('queued', 'running'))`)
	return classify("finish sweeps", err)
}

// ReadFor implements protect.Store.
func (s *Store) ReadFor(ctx context.Context, uploadID string) ([]protect.Discovery, error) {
	if !validUUID(uploadID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, bucket, key, etag, size, coalesce(sweep_id::text, ''), upload_id::text, attempts
		FROM discoveries WHERE upload_id = $1 AND status = 'done' ORDER BY id`, uploadID)
	if err != nil {
		return nil, classify("discoveries of an upload", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (protect.Discovery, error) {
		var d protect.Discovery
		err := r.Scan(&d.ID, &d.Tenant, &d.Object.Bucket, &d.Object.Key, &d.Object.ETag, &d.Object.Size,
			&d.SweepID, &d.UploadID, &d.Attempts)
		return d, err
	})
	return out, classify("discoveries of an upload", err)
}
