package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
	"github.com/intellidox/intellidox/internal/metrics"
	"github.com/intellidox/intellidox/internal/trace"
)

// errRaced: another transaction created the content's row between our load
// (which found none, so locked nothing) and our insert. Update starts over.
var errRaced = errors.New("the content was created meanwhile")

// Update implements files.Store: lock and load the content in one round
// trip, run fn, and save what it changed with its events in a second. The
// transaction's BEGIN travels in the first batch and its COMMIT in the
// second, so an event costs two round trips, not four.
func (s *Store) Update(ctx context.Context, key files.Key, fn func(*files.Content) error) ([]int64, error) {
	for attempt := 0; ; attempt++ {
		ids, c, err := s.update(ctx, key, fn)
		if errors.Is(err, errRaced) && attempt < 3 {
			continue
		}
		if err == nil && c.Decided {
			metrics.Verdicts.WithLabelValues(string(c.Verdict)).Inc()
		}
		return ids, classifyTx("update content", err)
	}
}

// querier is what the statements of a transaction need: a pgx.Tx, or a
// connection on which Update opened one itself.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

func (s *Store) update(ctx context.Context, key files.Key, fn func(*files.Content) error) (ids []int64, c *files.Content, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Release()
	defer func() {
		if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
			// Roll back what BEGIN opened. Should that fail, the pool
			// destroys a connection released inside a transaction.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = conn.Exec(rctx, "ROLLBACK")
		}
	}()
	if c, err = load(ctx, conn, key); err != nil {
		return nil, nil, err
	}
	stored := c.Stored
	if err := fn(c); err != nil {
		return nil, nil, err
	}
	ids, err = save(ctx, conn, c, stored)
	return ids, c, err
}

// The content's row is locked first: it is the content's mutex. Uploads
// are not locked: every change to a processing upload goes through here.
const (
	loadBlob = `SELECT size, object_key, state, verdict, coalesce(reason, ''), findings
		FROM blobs WHERE sha256 = $1 FOR UPDATE`
	loadUploads = `SELECT u.id, u.tenant, u.name, u.content_type, u.size, u.status, coalesce(u.reason, ''),
		coalesce(u.object_key, ''), u.dispatched, u.redrives, p.tenant IS NOT NULL, u.confirmed_at, u.updated_at,
		l.sealed, u.archive_passwords
		FROM uploads u LEFT JOIN possessions p ON p.tenant = u.tenant AND p.sha256 = u.sha256
		LEFT JOIN archive_password_lists l ON l.tenant = u.tenant
		WHERE u.sha256 = $1 AND (u.status = 'processing' OR u.id::text = ANY($2::text[]))
		ORDER BY u.confirmed_at NULLS LAST, u.id`
)

// load opens the transaction and reads the content under its lock.
func load(ctx context.Context, tx querier, key files.Key) (*files.Content, error) {
	c := &files.Content{SHA256: key.SHA256}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(loadBlob, key.SHA256)
	b.Queue(`SELECT now()`)
	b.Queue(selectResults, key.SHA256)
	b.Queue(loadUploads, key.SHA256, key.Uploads)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	err := br.QueryRow().Scan(&c.Size, &c.ObjectKey, &c.State, &c.Verdict, &c.Reason, &c.Findings)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		c.State, c.Verdict = files.BlobNew, contract.VerdictPending
	case err != nil:
		return nil, err
	default:
		c.Stored = true
	}
	if err := br.QueryRow().Scan(&c.Now); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	if c.Results, err = pgx.CollectRows(rows, scanResult); err != nil {
		return nil, err
	}
	rows, err = br.Query()
	if err != nil {
		return nil, err
	}
	c.Uploads, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*files.LiveUpload, error) {
		u := &files.LiveUpload{}
		var confirmed *time.Time
		var tenantList, own *string
		err := row.Scan(&u.ID, &u.Tenant, &u.Name, &u.ContentType, &u.Size, &u.Status, &u.Reason, &u.ObjectKey,
			&u.Dispatched, &u.Redrives, &u.Holds, &confirmed, &u.UpdatedAt, &tenantList, &own)
		if confirmed != nil {
			u.ConfirmedAt = *confirmed
		}
		if tenantList != nil {
			u.Lists = append(u.Lists, contract.SealedPasswords{Source: contract.PasswordsTenant, Sealed: *tenantList})
		}
		if own != nil {
			u.Lists = append(u.Lists, contract.SealedPasswords{Source: contract.PasswordsUpload, Sealed: *own})
		}
		return u, err
	})
	if err != nil {
		return nil, err
	}
	return c, br.Close()
}

// save writes what the transition changed and its events, and commits.
// stored is whether the content had a row when loaded.
func save(ctx context.Context, tx querier, c *files.Content, stored bool) ([]int64, error) {
	// A verdict change goes to every finished upload; read them before
	// this transition finishes others.
	var events []files.Event
	for _, ev := range c.Events {
		change, ok := ev.Data.(contract.FileVerdictChanged)
		if !ok || change.FileID != "" {
			events = append(events, ev)
			continue
		}
		rows, err := tx.Query(ctx, `SELECT id::text FROM uploads WHERE sha256 = $1 AND status = 'done' ORDER BY id`, c.SHA256)
		if err != nil {
			return nil, err
		}
		done, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, id := range done {
			change.FileID = id
			events = append(events, files.Event{Topic: ev.Topic, Data: change})
		}
	}

	b := &pgx.Batch{}
	var checks []func(pgconn.CommandTag) error
	exec := func(sql string, args ...any) { b.Queue(sql, args...); checks = append(checks, nil) }
	switch {
	case c.Stored && !stored:
		b.Queue(`INSERT INTO blobs (sha256, size, object_key, state, verdict, reason)
			VALUES ($1, $2, $3, $4, $5, nullif($6, '')) ON CONFLICT (sha256) DO NOTHING`,
			c.SHA256, c.Size, c.ObjectKey, c.State, c.Verdict, c.Reason)
		checks = append(checks, func(t pgconn.CommandTag) error {
			if t.RowsAffected() == 0 {
				return errRaced
			}
			return nil
		})
	case c.Changed:
		exec(`UPDATE blobs SET state = $2, size = $3, object_key = $4, verdict = $5, reason = nullif($6, ''),
			updated_at = now() WHERE sha256 = $1`, c.SHA256, c.State, c.Size, c.ObjectKey, c.Verdict, c.Reason)
	}
	if r := c.Record; r != nil {
		meta := []byte(`{}`)
		if r.Metadata != nil {
			var err error
			if meta, err = json.Marshal(r.Metadata); err != nil {
				return nil, err
			}
		}
		findings := r.Findings
		if findings == nil {
			findings = []contract.Finding{}
		}
		exec(`UPDATE blobs SET md5 = $2, sha1 = $3, mime_type = $4, metadata = $5, findings = $6,
			archive_passwords = $7, views = $8 WHERE sha256 = $1`,
			c.SHA256, r.MD5, r.SHA1, r.MIMEType, meta, findings, nullIfEmpty(r.Passwords), nullIfNone(r.Views))
	}
	if len(c.Keep) > 0 {
		exec(`UPDATE blobs SET archive_passwords = (
			SELECT jsonb_agg(x ORDER BY n) FROM (
				SELECT x, n FROM jsonb_array_elements(coalesce(archive_passwords, '[]') || $2::jsonb)
					WITH ORDINALITY AS t(x, n) ORDER BY n DESC LIMIT $3) kept)
			WHERE sha256 = $1`, c.SHA256, c.Keep, maxContentLists)
	}
	for _, r := range c.Recorded {
		exec(upsertResult, c.SHA256, r.Engine, r.Result, r.Threats, r.EngineVersion, r.SignatureVersion,
			r.ScannedAt, r.DurationMs, r.Detail)
	}
	if c.Decided {
		exec(`INSERT INTO verdict_history (sha256, verdict) VALUES ($1, $2)`, c.SHA256, c.Verdict)
	}
	for _, tenant := range c.Proven {
		exec(`INSERT INTO possessions (tenant, sha256) VALUES ($1, $2) ON CONFLICT DO NOTHING`, tenant, c.SHA256)
	}
	for _, u := range c.Uploads {
		if u.Changed {
			exec(`UPDATE uploads SET status = $2, reason = nullif($3, ''), dispatched = $4, redrives = $5,
				confirmed_at = CASE WHEN confirmed_at IS NULL AND $2 <> 'awaiting_upload' THEN now() ELSE confirmed_at END,
				updated_at = now() WHERE id = $1`, u.ID, u.Status, u.Reason, u.Dispatched, u.Redrives)
		}
	}
	var rescans []contract.FileExtracted
	queued := 0
	for _, ev := range events {
		if r, ok := ev.Data.(contract.FileExtracted); ok && r.ObjectKey == "" {
			rescans = append(rescans, r)
			continue
		}
		payload, err := json.Marshal(ev.Data)
		if err != nil {
			return nil, err
		}
		b.Queue(insertOutbox, ev.Topic, payload, trace.From(ctx))
		queued++
	}
	ids := make([]int64, 0, queued+len(rescans))
	// COMMIT ends the batch, unless rescans follow it: they are filled in
	// from the row as saved, and COMMIT comes after them.
	commitInBatch := len(rescans) == 0
	if commitInBatch {
		b.Queue("COMMIT")
	}
	if b.Len() > 0 {
		br := tx.SendBatch(ctx, b)
		for _, check := range checks {
			tag, err := br.Exec()
			if err == nil && check != nil {
				err = check(tag)
			}
			if err != nil {
				br.Close()
				return nil, err
			}
		}
		for i := 0; i < queued; i++ {
			var id int64
			if err := br.QueryRow().Scan(&id); err != nil {
				br.Close()
				return nil, err
			}
			ids = append(ids, id)
		}
		if commitInBatch {
			if err := committed(br.Exec()); err != nil {
				br.Close()
				return nil, err
			}
		}
		if err := br.Close(); err != nil {
			return nil, err
		}
	}
	if commitInBatch {
		return ids, nil
	}
	for _, r := range rescans {
		id, err := enqueueRescan(ctx, tx, c.SHA256, r.FileID, r.Engines)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, committed(tx.Exec(ctx, "COMMIT"))
}

// committed checks COMMIT's answer: in a transaction that failed, PostgreSQL
// answers it with ROLLBACK and no error.
func committed(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("transaction rolled back (%s)", tag)
	}
	return err
}

// Stuck implements files.Store.
func (s *Store) Stuck(ctx context.Context, after time.Duration, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT sha256 FROM uploads
		WHERE status = 'processing' AND updated_at < now() - $1::interval
		GROUP BY sha256 ORDER BY min(updated_at) LIMIT $2`, after.String(), limit)
	if err != nil {
		return nil, classify("stuck uploads", err)
	}
	shas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return shas, classify("stuck uploads", err)
}
