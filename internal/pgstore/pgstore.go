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
	"github.com/intellidox/intellidox/internal/metrics"
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
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.SQLState()[:2] {
		case "08", "53", "57": // connection exception, insufficient resources, operator intervention
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, puddle.ErrClosedPool) || strings.Contains(err.Error(), "conn closed")
}

func (s *Store) withTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, fn)
	if err == nil || isDomain(err) {
		return err
	}
	return classify(op, err)
}

func isDomain(err error) bool {
	return errors.Is(err, files.ErrNotFound) || errors.Is(err, files.ErrSizeConflict) || errors.Is(err, files.ErrNotReady)
}

const upsertBlob = `
INSERT INTO blobs (sha256, size, object_key) VALUES ($1, $2, $3)
ON CONFLICT (sha256) DO UPDATE SET
    size       = CASE WHEN blobs.state IN ('new', 'rejected') THEN EXCLUDED.size ELSE blobs.size END,
    state      = CASE WHEN blobs.state = 'rejected' THEN 'new' ELSE blobs.state END,
    updated_at = now()
RETURNING state, size, verdict, object_key`

const insertUpload = `
INSERT INTO uploads (id, tenant, name, size, sha256, content_type, status, expires_at, confirmed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $7 <> 'awaiting_upload' THEN now() END)
RETURNING created_at, updated_at`

// CreateUpload implements files.Store.
func (s *Store) CreateUpload(ctx context.Context, u files.NewUpload) (files.File, error) {
	f := files.File{ID: u.ID, Tenant: u.Tenant, Name: u.Name, Size: u.Size, SHA256: u.SHA256,
		ContentType: u.ContentType, Metadata: json.RawMessage(`{}`)}
	err := s.withTx(ctx, "create upload", func(tx pgx.Tx) error {
		var size int64
		var verdict string
		if err := tx.QueryRow(ctx, upsertBlob, u.SHA256, u.Size, u.ObjectKey).
			Scan(&f.BlobState, &size, &verdict, &f.ObjectKey); err != nil {
			return err
		}
		if size != u.Size {
			return files.ErrSizeConflict
		}
		f.Status, f.Verdict = files.AwaitingUpload, contract.VerdictPending
		if f.BlobState == files.BlobVerified {
			f.Status = files.Processing
			if v := contract.Verdict(verdict); v.Final() {
				f.Status, f.Verdict = files.Done, v
			}
		}
		return tx.QueryRow(ctx, insertUpload, u.ID, u.Tenant, u.Name, u.Size, u.SHA256, u.ContentType,
			f.Status, u.ExpiresAt).Scan(&f.CreatedAt, &f.UpdatedAt)
	})
	return f, err
}

const fileColumns = `
SELECT u.id, u.tenant, u.name, u.size, u.sha256, u.content_type, u.status, coalesce(u.reason, ''),
       u.created_at, u.updated_at, coalesce(b.md5, ''), coalesce(b.sha1, ''), coalesce(b.mime_type, ''),
       b.metadata || jsonb_build_object('findings', b.findings), b.verdict, b.state, b.object_key,
       coalesce(u.expires_at, 'infinity')
FROM uploads u JOIN blobs b USING (sha256)`

const selectFile = fileColumns + `
WHERE u.id = $1 AND u.tenant = $2`

func scanFile(row pgx.Row) (files.File, error) {
	var f files.File
	var verdict string
	err := row.Scan(&f.ID, &f.Tenant, &f.Name, &f.Size, &f.SHA256, &f.ContentType, &f.Status, &f.Reason,
		&f.CreatedAt, &f.UpdatedAt, &f.MD5, &f.SHA1, &f.MIMEType, &f.Metadata, &verdict, &f.BlobState, &f.ObjectKey,
		&f.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, files.ErrNotFound
	}
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
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (contract.Result, error) {
		var r contract.Result
		err := row.Scan(&r.Engine, &r.Result, &r.Threats, &r.EngineVersion, &r.SignatureVersion,
			&r.ScannedAt, &r.DurationMs, &r.Detail)
		return r, err
	})
}

// Results implements files.Store.
func (s *Store) Results(ctx context.Context, sha string) ([]contract.Result, error) {
	rs, err := queryResults(ctx, s.pool, sha)
	return rs, classify("results", err)
}

// Confirm implements files.Store.
func (s *Store) Confirm(ctx context.Context, tenant, id string) (files.File, []int64, error) {
	if !validUUID(id) {
		return files.File{}, nil, files.ErrNotFound
	}
	var f files.File
	var ids []int64
	err := s.withTx(ctx, "confirm", func(tx pgx.Tx) error {
		var err error
		if f, err = scanFile(tx.QueryRow(ctx, selectFile+` FOR UPDATE OF u, b`, id, tenant)); err != nil {
			return err
		}
		if f.Status != files.AwaitingUpload {
			return nil
		}
		status := files.Processing
		if f.BlobState == files.BlobVerified {
			var verdict contract.Verdict
			if err := tx.QueryRow(ctx, `SELECT verdict FROM blobs WHERE sha256 = $1`, f.SHA256).Scan(&verdict); err != nil {
				return err
			}
			if verdict.Final() {
				status, f.Verdict = files.Done, verdict
			}
		}
		if err := tx.QueryRow(ctx, `UPDATE uploads SET status = $2, confirmed_at = now(), updated_at = now()
			WHERE id = $1 RETURNING updated_at`, id, status).Scan(&f.UpdatedAt); err != nil {
			return err
		}
		f.Status = status
		if f.BlobState != files.BlobNew {
			return nil // already being processed (or verified) for another upload
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'processing', updated_at = now() WHERE sha256 = $1`, f.SHA256); err != nil {
			return err
		}
		f.BlobState = files.BlobProcessing
		id, err := enqueue(ctx, tx, contract.TopicFileUploaded, contract.FileUploaded{
			Version: contract.SchemaVersion, FileID: f.ID, SHA256: f.SHA256, Size: f.Size,
			ObjectKey: f.ObjectKey, ContentType: f.ContentType, Name: f.Name,
		})
		ids = append(ids, id)
		return err
	})
	return f, ids, err
}

// RecordExtraction implements files.Store.
func (s *Store) RecordExtraction(ctx context.Context, ev contract.FileExtracted, d files.Decider) ([]int64, error) {
	var ids []int64
	err := s.withTx(ctx, "record extraction", func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM blobs WHERE sha256 = $1 FOR UPDATE`, ev.SHA256).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // content we never issued: nothing to record
		}
		if err != nil {
			return err
		}
		if ev.Rejection != nil {
			if state == files.BlobVerified {
				return nil // a stale rejection: good bytes were verified since
			}
			return reject(ctx, tx, ev, &ids)
		}
		meta, err := json.Marshal(ev.Metadata)
		if err != nil {
			return err
		}
		if ev.Metadata == nil {
			meta = []byte(`{}`)
		}
		findings := ev.Findings
		if findings == nil {
			findings = []contract.Finding{}
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'verified', md5 = $2, sha1 = $3, mime_type = $4,
			metadata = $5, findings = $6, reason = NULL, updated_at = now() WHERE sha256 = $1`,
			ev.SHA256, ev.MD5, ev.SHA1, ev.MIMEType, meta, findings); err != nil {
			return err
		}
		return settle(ctx, tx, ev.SHA256, d, &ids)
	})
	return ids, err
}

func reject(ctx context.Context, tx pgx.Tx, ev contract.FileExtracted, ids *[]int64) error {
	reason := ev.Rejection.Code + ": " + ev.Rejection.Reason
	if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'rejected', reason = $2, updated_at = now()
		WHERE sha256 = $1`, ev.SHA256, reason); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `UPDATE uploads SET status = 'rejected', reason = $2, updated_at = now()
		WHERE sha256 = $1 AND status = 'processing' RETURNING id`, ev.SHA256, reason)
	if err != nil {
		return err
	}
	rejected, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range rejected {
		oid, err := enqueue(ctx, tx, contract.TopicFileCompleted, contract.FileCompleted{
			Version: contract.SchemaVersion, FileID: id, SHA256: ev.SHA256,
			Status: string(files.Rejected), Verdict: contract.VerdictUnscanned,
		})
		if err != nil {
			return err
		}
		*ids = append(*ids, oid)
	}
	return nil
}

const upsertResult = `
INSERT INTO scan_results (sha256, engine, result, threats, engine_version, signature_version, scanned_at, duration_ms, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (sha256, engine) DO UPDATE SET
    result = EXCLUDED.result, threats = EXCLUDED.threats, engine_version = EXCLUDED.engine_version,
    signature_version = EXCLUDED.signature_version, scanned_at = EXCLUDED.scanned_at,
    duration_ms = EXCLUDED.duration_ms, detail = EXCLUDED.detail
WHERE scan_results.scanned_at <= EXCLUDED.scanned_at`

// RecordScan implements files.Store.
func (s *Store) RecordScan(ctx context.Context, ev contract.ScanCompleted, d files.Decider) ([]int64, error) {
	var ids []int64
	err := s.withTx(ctx, "record scan", func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM blobs WHERE sha256 = $1 FOR UPDATE`, ev.SHA256).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		r := ev.Result
		threats := r.Threats
		if threats == nil {
			threats = []string{}
		}
		if _, err := tx.Exec(ctx, upsertResult, ev.SHA256, r.Engine, r.Result, threats, r.EngineVersion,
			r.SignatureVersion, r.ScannedAt, r.DurationMs, r.Detail); err != nil {
			return err
		}
		if state != files.BlobVerified {
			return nil // the extractor's event settles it once the bytes are verified
		}
		return settle(ctx, tx, ev.SHA256, d, &ids)
	})
	return ids, err
}

// settle decides the content's verdict once every engine has reported, and
// finishes the uploads waiting for it. The caller holds the blob row lock.
func settle(ctx context.Context, tx pgx.Tx, sha string, d files.Decider, ids *[]int64) error {
	results, err := queryResults(ctx, tx, sha)
	if err != nil {
		return err
	}
	var findings []contract.Finding
	if err := tx.QueryRow(ctx, `SELECT findings FROM blobs WHERE sha256 = $1`, sha).Scan(&findings); err != nil {
		return err
	}
	v, complete := d.Decide(results, findings)
	if !complete {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE blobs SET verdict = $2, updated_at = now()
		WHERE sha256 = $1 AND verdict <> $2`, sha, v)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		if _, err := tx.Exec(ctx, `INSERT INTO verdict_history (sha256, verdict) VALUES ($1, $2)`, sha, v); err != nil {
			return err
		}
		metrics.Verdicts.WithLabelValues(string(v)).Inc()
	}
	rows, err := tx.Query(ctx, `UPDATE uploads SET status = 'done', updated_at = now()
		WHERE sha256 = $1 AND status = 'processing' RETURNING id`, sha)
	if err != nil {
		return err
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range done {
		oid, err := enqueue(ctx, tx, contract.TopicFileCompleted, contract.FileCompleted{
			Version: contract.SchemaVersion, FileID: id, SHA256: sha, Status: string(files.Done), Verdict: v,
		})
		if err != nil {
			return err
		}
		*ids = append(*ids, oid)
	}
	return nil
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

// Rescan implements files.Store. It re-announces the verified content as a
// file.extracted event limited to engines.
func (s *Store) Rescan(ctx context.Context, tenant, id string, engines []string) (files.File, []int64, error) {
	if !validUUID(id) {
		return files.File{}, nil, files.ErrNotFound
	}
	var f files.File
	var ids []int64
	err := s.withTx(ctx, "rescan", func(tx pgx.Tx) error {
		var err error
		if f, err = scanFile(tx.QueryRow(ctx, selectFile, id, tenant)); err != nil {
			return err
		}
		if f.BlobState != files.BlobVerified {
			return files.ErrNotReady
		}
		oid, err := enqueueRescan(ctx, tx, f.SHA256, f.ID, engines)
		ids = append(ids, oid)
		return err
	})
	return f, ids, err
}

// enqueueRescan queues file.extracted for verified content, from what the
// extractor recorded, for the given engines (all when empty).
func enqueueRescan(ctx context.Context, tx pgx.Tx, sha, fileID string, engines []string) (int64, error) {
	ev := contract.FileExtracted{Version: contract.SchemaVersion, FileID: fileID, SHA256: sha, Engines: engines}
	err := tx.QueryRow(ctx, `SELECT size, object_key, coalesce(md5, ''), coalesce(sha1, ''), coalesce(mime_type, ''), metadata, findings
		FROM blobs WHERE sha256 = $1`, sha).Scan(&ev.Size, &ev.ObjectKey, &ev.MD5, &ev.SHA1, &ev.MIMEType, &ev.Metadata, &ev.Findings)
	if err != nil {
		return 0, err
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
