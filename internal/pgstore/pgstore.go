// Package pgstore is the api's PostgreSQL store (pgx). Each exported method
// runs in one transaction; events it causes go to the outbox table in that
// same transaction and are relayed after commit (see outbox.go).
package pgstore

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/puddle/v2"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/files"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements files.Store.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Migrate applies every pending migration. Concurrent callers (several api
// replicas starting together) serialize on tern's advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("migrate: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// classify turns connection failures into a 503 for clients and leaves
// other errors (bugs, constraint violations) as they are.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if unreachable(err) {
		return files.Unavailable("database_unavailable", "The database", fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err means the database could not be reached
// or went away, as opposed to a query that failed.
func unreachable(err error) bool {
	// A connection the server refused (its FATAL, e.g. a database closed
	// to connections, wrapped in a ConnectError) is as unreachable as a
	// server that is down.
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.SQLState()[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, puddle.ErrClosedPool) || strings.Contains(err.Error(), "conn closed")
}

func (s *Store) withTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	return classifyTx(op, pgx.BeginFunc(ctx, s.pool, fn))
}

// classifyTx passes a transaction's domain errors (not found, conflicts)
// through as they are and classifies the rest.
func classifyTx(op string, err error) error {
	if err == nil || isDomain(err) {
		return err
	}
	return classify(op, err)
}

func isDomain(err error) bool {
	return errors.Is(err, files.ErrNotFound) || errors.Is(err, files.ErrSizeConflict) || errors.Is(err, files.ErrNotReady)
}

// selectOwnership reads what CreateOutcome needs. A create runs this one
// look-up and one insert whether the content is new or another tenant holds
// it, so that neither the answer nor its timing tells them apart.
const selectOwnership = `
SELECT coalesce(b.state, 'new'), coalesce(b.size, 0), coalesce(b.verdict, 'pending'),
       EXISTS (SELECT 1 FROM possessions p WHERE p.tenant = $2 AND p.sha256 = $1)
FROM (SELECT $1::text AS sha256) x LEFT JOIN blobs b USING (sha256)`

const insertUpload = `
INSERT INTO uploads (id, tenant, name, size, sha256, content_type, status, expires_at, confirmed_at, object_key, dispatched,
                     archive_passwords, multipart_id, part_size, part_sha256)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $7 <> 'awaiting_upload' THEN now() END,
        CASE WHEN $7 = 'awaiting_upload' THEN $9 END, $7 <> 'awaiting_upload', $10,
        CASE WHEN $7 = 'awaiting_upload' THEN $11 END, $12, $13)
RETURNING created_at, updated_at`

// CreateUpload implements files.Store.
func (s *Store) CreateUpload(ctx context.Context, u files.NewUpload) (files.File, error) {
	f := files.File{ID: u.ID, Tenant: u.Tenant, Name: u.Name, Size: u.Size, SHA256: u.SHA256,
		ContentType: u.ContentType, Metadata: json.RawMessage(`{}`)}
	err := s.withTx(ctx, "create upload", func(tx pgx.Tx) error {
		var size int64
		var verdict contract.Verdict
		if err := tx.QueryRow(ctx, selectOwnership, u.SHA256, u.Tenant).
			Scan(&f.BlobState, &size, &verdict, &f.Owned); err != nil {
			return err
		}
		var err error
		if f.Status, f.Verdict, err = files.CreateOutcome(f.Owned, f.BlobState, size, verdict, u.Size); err != nil {
			return err
		}
		if f.Status == files.Processing {
			// The tenant's own content, still being judged: decide again
			// under the content's lock, or a verdict settled between the
			// read above and the insert below would leave this upload
			// processing until the reconciler. Only an owner waits here, so
			// the wait tells no tenant of another's content.
			if err := tx.QueryRow(ctx, `SELECT verdict FROM blobs WHERE sha256 = $1 FOR UPDATE`, u.SHA256).
				Scan(&verdict); err != nil {
				return err
			}
			if f.Status, f.Verdict, err = files.CreateOutcome(f.Owned, f.BlobState, size, verdict, u.Size); err != nil {
				return err
			}
		}
		if f.Status == files.AwaitingUpload {
			f.ObjectKey = u.ObjectKey
		}
		var mpID, partSize, partSums any
		if m := u.Multipart; m != nil {
			mpID, partSize, partSums = m.ID, m.PartSize, m.PartSHA256
		}
		if err := tx.QueryRow(ctx, insertUpload, u.ID, u.Tenant, u.Name, u.Size, u.SHA256, u.ContentType,
			f.Status, u.ExpiresAt, u.ObjectKey, u.Passwords, mpID, partSize, partSums).Scan(&f.CreatedAt, &f.UpdatedAt); err != nil {
			return err
		}
		if f.Status != files.Done {
			return nil
		}
		// Done at creation (the tenant's own, settled content): it completes
		// now, like any upload whose verdict becomes final. Only an owner
		// gets here, so this tells no tenant of another's content. The
		// outbox's poller publishes it.
		_, err = enqueueCompleted(ctx, tx, u.ID, u.SHA256, f.Verdict)
		return err
	})
	return files.Redact(f), err
}

const fileColumns = `
SELECT u.id, u.tenant, u.name, u.size, u.sha256, u.content_type, u.status, coalesce(u.reason, ''),
       u.created_at, u.updated_at, coalesce(b.md5, ''), coalesce(b.sha1, ''), coalesce(b.mime_type, ''),
       coalesce(b.metadata, '{}') || jsonb_build_object('findings', coalesce(b.findings, '[]')),
       coalesce(b.verdict, 'pending'), coalesce(b.state, 'new'),
       coalesce(u.object_key, b.object_key), coalesce(u.expires_at, 'infinity'), p.tenant IS NOT NULL,
       u.multipart_id, coalesce(u.part_size, 0), u.part_sha256
FROM uploads u LEFT JOIN blobs b USING (sha256)
LEFT JOIN possessions p ON p.tenant = u.tenant AND p.sha256 = u.sha256`

const selectFile = fileColumns + `
WHERE u.id = $1 AND u.tenant = $2`

func scanFile(row pgx.Row) (files.File, error) {
	var f files.File
	var verdict string
	var mpID *string
	var partSize int64
	var partSums []string
	err := row.Scan(&f.ID, &f.Tenant, &f.Name, &f.Size, &f.SHA256, &f.ContentType, &f.Status, &f.Reason,
		&f.CreatedAt, &f.UpdatedAt, &f.MD5, &f.SHA1, &f.MIMEType, &f.Metadata, &verdict, &f.BlobState, &f.ObjectKey,
		&f.ExpiresAt, &f.Owned, &mpID, &partSize, &partSums)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, files.ErrNotFound
	}
	if mpID != nil && f.Status == files.AwaitingUpload {
		f.Multipart = &files.Multipart{ID: *mpID, PartSize: partSize, PartSHA256: partSums}
	}
	f = files.Redact(f)
	switch f.Status {
	case files.Done:
		f.Verdict = contract.Verdict(verdict)
	case files.Rejected:
		f.Verdict = contract.VerdictUnscanned
	default:
		f.Verdict = contract.VerdictPending
	}
	return f, err
}

// Get implements files.Store.
func (s *Store) Get(ctx context.Context, tenant, id string) (files.File, error) {
	if !validUUID(id) {
		return files.File{}, files.ErrNotFound
	}
	f, err := scanFile(s.pool.QueryRow(ctx, selectFile, id, tenant))
	if err != nil && !isDomain(err) {
		return f, classify("get file", err)
	}
	return f, err
}

const selectResults = `
SELECT engine, result, threats, engine_version, signature_version, scanned_at, duration_ms, detail
FROM scan_results WHERE sha256 = $1 ORDER BY engine`

func queryResults(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, sha string) ([]contract.Result, error) {
	rows, err := q.Query(ctx, selectResults, sha)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanResult)
}

func scanResult(row pgx.CollectableRow) (contract.Result, error) {
	var r contract.Result
	err := row.Scan(&r.Engine, &r.Result, &r.Threats, &r.EngineVersion, &r.SignatureVersion,
		&r.ScannedAt, &r.DurationMs, &r.Detail)
	return r, err
}

// Results implements files.Store.
func (s *Store) Results(ctx context.Context, sha string) ([]contract.Result, error) {
	rs, err := queryResults(ctx, s.pool, sha)
	return rs, classify("results", err)
}

// enqueueCompleted queues file.completed for an upload done with verdict v.
// Every upload that finishes gets exactly one: through processing, or at
// once when its tenant already owns the judged content.
func enqueueCompleted(ctx context.Context, tx pgx.Tx, id, sha string, v contract.Verdict) (int64, error) {
	return enqueue(ctx, tx, contract.TopicFileCompleted, contract.FileCompleted{
		Version: contract.SchemaVersion, FileID: id, SHA256: sha, Status: string(files.Done), Verdict: v,
	})
}

// sealedLists returns the sealed password lists an upload brings: its
// tenant's, then its own.
func sealedLists(ctx context.Context, tx querier, uploadID string) ([]contract.SealedPasswords, error) {
	var own, tenant *string
	err := tx.QueryRow(ctx, `SELECT u.archive_passwords, l.sealed FROM uploads u
		LEFT JOIN archive_password_lists l ON l.tenant = u.tenant WHERE u.id = $1`, uploadID).Scan(&own, &tenant)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	var out []contract.SealedPasswords
	if tenant != nil {
		out = append(out, contract.SealedPasswords{Source: contract.PasswordsTenant, Sealed: *tenant})
	}
	if own != nil {
		out = append(out, contract.SealedPasswords{Source: contract.PasswordsUpload, Sealed: *own})
	}
	return out, nil
}

// maxContentLists bounds the sealed lists kept with a content for rescans.
const maxContentLists = 8

const upsertResult = `
INSERT INTO scan_results (sha256, engine, result, threats, engine_version, signature_version, scanned_at, duration_ms, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (sha256, engine) DO UPDATE SET
    result = EXCLUDED.result, threats = EXCLUDED.threats, engine_version = EXCLUDED.engine_version,
    signature_version = EXCLUDED.signature_version, scanned_at = EXCLUDED.scanned_at,
    duration_ms = EXCLUDED.duration_ms, detail = EXCLUDED.detail
WHERE scan_results.scanned_at <= EXCLUDED.scanned_at`

// nullIfEmpty stores no lists as NULL.
func nullIfEmpty(l []contract.SealedPasswords) any {
	if len(l) == 0 {
		return nil
	}
	return l
}

// nullIfNone stores no views as NULL.
func nullIfNone(v []contract.View) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

// Ping checks the database for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return s.pool.Ping(ctx)
}

// enqueueRescan queues file.extracted for verified content, from what the
// extractor recorded, for the given engines (all when empty).
func enqueueRescan(ctx context.Context, tx querier, sha, fileID string, engines []string) (int64, error) {
	ev := contract.FileExtracted{Version: contract.SchemaVersion, FileID: fileID, SHA256: sha, Engines: engines, Rescan: true}
	err := tx.QueryRow(ctx, `SELECT size, object_key, coalesce(md5, ''), coalesce(sha1, ''), coalesce(mime_type, ''), metadata, findings,
		archive_passwords, views FROM blobs WHERE sha256 = $1`, sha).Scan(&ev.Size, &ev.ObjectKey, &ev.MD5, &ev.SHA1, &ev.MIMEType,
		&ev.Metadata, &ev.Findings, &ev.Passwords, &ev.Views)
	if err != nil {
		return 0, err
	}
	if fileID != "" {
		// A rescan someone asked for also tries the lists of the upload
		// it names and of that upload's tenant, as they are now.
		lists, err := sealedLists(ctx, tx, fileID)
		if err != nil {
			return 0, err
		}
		ev.Passwords = append(lists, ev.Passwords...)
		if len(ev.Passwords) > maxContentLists {
			ev.Passwords = ev.Passwords[:maxContentLists]
		}
	}
	return enqueue(ctx, tx, contract.TopicFileExtracted, ev)
}

// RescanStale implements files.Store. Queued contents get a scan_results row
// marked with the new signature version as "requested", so the next batch
// (and a redelivered engine.updated) skips them.
func (s *Store) RescanStale(ctx context.Context, engine, sigVersion string, since time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.withTx(ctx, "rescan stale", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT r.sha256 FROM scan_results r JOIN blobs b USING (sha256)
			WHERE r.engine = $1 AND r.signature_version <> $2 AND r.rescan_requested IS DISTINCT FROM $2
			  AND r.scanned_at >= $3 AND b.state = 'verified'
			ORDER BY r.scanned_at DESC LIMIT $4 FOR UPDATE OF r SKIP LOCKED`, engine, sigVersion, since, limit)
		if err != nil {
			return err
		}
		shas, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, sha := range shas {
			if _, err := tx.Exec(ctx, `UPDATE scan_results SET rescan_requested = $3 WHERE sha256 = $1 AND engine = $2`,
				sha, engine, sigVersion); err != nil {
				return err
			}
			id, err := enqueueRescan(ctx, tx, sha, "", []string{engine})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// History implements files.Store.
func (s *Store) History(ctx context.Context, sha string) ([]files.VerdictChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT verdict, decided_at FROM verdict_history WHERE sha256 = $1 ORDER BY id`, sha)
	if err != nil {
		return nil, classify("history", err)
	}
	h, err := pgx.CollectRows(rows, pgx.RowToStructByPos[files.VerdictChange])
	return h, classify("history", err)
}

// ExtendUpload implements files.Store.
func (s *Store) ExtendUpload(ctx context.Context, tenant, id string, expiresAt time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE uploads SET expires_at = $3, updated_at = now()
		WHERE id = $1 AND tenant = $2 AND status = 'awaiting_upload'`, id, tenant, expiresAt)
	return classify("extend upload", err)
}

// ExpiredMultiparts implements files.Store.
func (s *Store) ExpiredMultiparts(ctx context.Context, now time.Time, limit int) ([]files.File, error) {
	rows, err := s.pool.Query(ctx, fileColumns+` WHERE u.status = 'awaiting_upload' AND u.multipart_id IS NOT NULL
		AND u.expires_at < $1 ORDER BY u.expires_at LIMIT $2`, now, limit)
	if err != nil {
		return nil, classify("expired multipart uploads", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (files.File, error) { return scanFile(row) })
	return out, classify("expired multipart uploads", err)
}

// ClearMultipart implements files.Store.
func (s *Store) ClearMultipart(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE uploads SET multipart_id = NULL, updated_at = now() WHERE id = $1`, id)
	return classify("clear multipart upload", err)
}
