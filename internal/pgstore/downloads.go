package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
)

// DownloadPolicy implements files.PolicyStore. A tenant without a policy
// gets the default.
func (s *Store) DownloadPolicy(ctx context.Context, tenant string) (files.DownloadPolicy, error) {
	var p files.DownloadPolicy
	err := s.pool.QueryRow(ctx, `SELECT allow_suspicious, allow_unscanned, updated_by, reason, updated_at
		FROM download_policies WHERE tenant = $1`, tenant).Scan(&p.AllowSuspicious, &p.AllowUnscanned, &p.UpdatedBy, &p.Reason, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return files.DownloadPolicy{}, nil
	}
	return p, classify("download policy", err)
}

// SetDownloadPolicy implements files.PolicyStore: the policy and its audit
// entry are written together.
func (s *Store) SetDownloadPolicy(ctx context.Context, tenant string, p files.DownloadPolicy) (files.DownloadPolicy, error) {
	err := s.withTx(ctx, "set download policy", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO download_policies (tenant, allow_suspicious, allow_unscanned, updated_by, reason)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant) DO UPDATE SET allow_suspicious = $2, allow_unscanned = $3, updated_by = $4, reason = $5, updated_at = now()
			RETURNING updated_at`, tenant, p.AllowSuspicious, p.AllowUnscanned, p.UpdatedBy, p.Reason).Scan(&p.UpdatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO download_policy_audit (tenant, changed_by, reason, allow_suspicious, allow_unscanned, changed_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, tenant, p.UpdatedBy, p.Reason, p.AllowSuspicious, p.AllowUnscanned, p.UpdatedAt)
		return err
	})
	return p, err
}

// DownloadPolicyAudit implements files.PolicyStore, newest first.
func (s *Store) DownloadPolicyAudit(ctx context.Context, tenant string, limit int) ([]files.PolicyChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT changed_by, reason, allow_suspicious, allow_unscanned, changed_at
		FROM download_policy_audit WHERE tenant = $1 ORDER BY id DESC LIMIT $2`, tenant, limit)
	if err != nil {
		return nil, classify("download policy audit", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[files.PolicyChange])
	return out, classify("download policy audit", err)
}

// Outcome implements files.Store: what a file event must act on, read now.
func (s *Store) Outcome(ctx context.Context, fileID string) (files.Outcome, error) {
	var o files.Outcome
	if !validUUID(fileID) {
		return o, files.ErrNotFound
	}
	f, err := scanFile(s.pool.QueryRow(ctx, fileColumns+` WHERE u.id = $1`, fileID))
	if err != nil {
		if isDomain(err) {
			return o, err
		}
		return o, classify("file outcome", err)
	}
	o.File = f
	var ownKey, blobKey *string
	var scannedAt *time.Time
	err = s.pool.QueryRow(ctx, `SELECT u.object_key, b.object_key,
		    coalesce((SELECT max(id) FROM verdict_history h WHERE h.sha256 = u.sha256), 0),
		    (SELECT max(scanned_at) FROM scan_results r WHERE r.sha256 = u.sha256),
		    coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM scan_results r, jsonb_array_elements_text(r.threats) t
		              WHERE r.sha256 = u.sha256 AND r.result IN ('malicious', 'suspicious')), '{}')
		FROM uploads u LEFT JOIN blobs b USING (sha256) WHERE u.id = $1`, fileID).
		Scan(&ownKey, &blobKey, &o.Version, &scannedAt, &o.Signatures)
	if err != nil {
		return o, classify("file outcome", err)
	}
	if scannedAt != nil {
		o.ScannedAt = *scannedAt
	}
	if ownKey != nil {
		o.Keys = append(o.Keys, *ownKey)
	}
	if f.Status == files.Done && blobKey != nil && (ownKey == nil || *blobKey != *ownKey) {
		o.Keys = append(o.Keys, *blobKey)
	}
	rows, err := s.pool.Query(ctx, `SELECT bucket, key, etag FROM discoveries WHERE upload_id = $1 ORDER BY id`, fileID)
	if err != nil {
		return o, classify("file outcome", err)
	}
	if o.Sources, err = pgx.CollectRows(rows, pgx.RowToStructByPos[files.SourceObject]); err != nil {
		return o, classify("file outcome", err)
	}
	if f.Status != files.Done {
		o.Signatures = nil
	}
	if f.Status == files.Rejected {
		o.File.Verdict = contract.VerdictUnscanned
	}
	return o, nil
}

// WithObjectLock implements files.ActionStore: fn runs while no other call
// of it, in any api replica, acts on the objects of the same content. The
// lock is PostgreSQL's session advisory lock, so it dies with a crashed
// replica's connection.
func (s *Store) WithObjectLock(ctx context.Context, sha string, fn func(context.Context) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify("object lock", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('objects:' || $1, 0))`, sha); err != nil {
		return classify("object lock", err)
	}
	defer func() {
		// A failed unlock leaves the lock to the connection: drop it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended('objects:' || $1, 0))`, sha); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	return fn(ctx)
}

// RenameObject implements files.ActionStore: every row naming the object
// under from names to instead.
func (s *Store) RenameObject(ctx context.Context, from, to string) error {
	return s.withTx(ctx, "rename object", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE blobs SET object_key = $2 WHERE object_key = $1`, from, to); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE uploads SET object_key = $2 WHERE object_key = $1`, from, to)
		return err
	})
}

// ArchivePasswords implements files.PasswordStore: the count and who set
// the list, never the list.
func (s *Store) ArchivePasswords(ctx context.Context, tenant string) (files.PasswordList, error) {
	var l files.PasswordList
	var at time.Time
	err := s.pool.QueryRow(ctx, `SELECT count, updated_by, updated_at FROM archive_password_lists WHERE tenant = $1`,
		tenant).Scan(&l.Count, &l.UpdatedBy, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return files.PasswordList{}, nil
	}
	l.UpdatedAt = &at
	return l, classify("archive passwords", err)
}

// SetArchivePasswords implements files.PasswordStore.
func (s *Store) SetArchivePasswords(ctx context.Context, tenant, sealed string, count int, by string) (files.PasswordList, error) {
	l := files.PasswordList{Count: count, UpdatedBy: by}
	var at time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO archive_password_lists (tenant, sealed, count, updated_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant) DO UPDATE SET sealed = $2, count = $3, updated_by = $4, updated_at = now()
		RETURNING updated_at`, tenant, sealed, count, by).Scan(&at)
	l.UpdatedAt = &at
	return l, classify("set archive passwords", err)
}

// DeleteArchivePasswords implements files.PasswordStore.
func (s *Store) DeleteArchivePasswords(ctx context.Context, tenant string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM archive_password_lists WHERE tenant = $1`, tenant)
	return classify("delete archive passwords", err)
}
