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
	err := pgx.BeginFunc(ctx, s.pool, fn)
	if err == nil || isDomain(err) {
		return err
	}
	return classify(op, err)
}

func isDomain(err error) bool {
	return errors.Is(err, files.ErrNotFound) || errors.Is(err, files.ErrSizeConflict) || errors.Is(err, files.ErrNotReady)
}

// insertBlob creates the content's row when bytes for it are first
// confirmed. Its size and object are those of the first bytes confirmed
// until bytes are verified (RecordExtraction sets both).
const insertBlob = `
INSERT INTO blobs (sha256, size, object_key) VALUES ($1, $2, $3)
ON CONFLICT (sha256) DO NOTHING`

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
		if f, err = scanFile(tx.QueryRow(ctx, selectFile+` FOR UPDATE OF u`, id, tenant)); err != nil {
			return err
		}
		if f.Status != files.AwaitingUpload {
			return nil
		}
		if _, err := tx.Exec(ctx, insertBlob, f.SHA256, f.Size, f.ObjectKey); err != nil {
			return err
		}
		var verdict contract.Verdict
		if err := tx.QueryRow(ctx, `SELECT state, verdict FROM blobs WHERE sha256 = $1 FOR UPDATE`, f.SHA256).
			Scan(&f.BlobState, &verdict); err != nil {
			return err
		}
		status, dispatched := files.Processing, true
		switch files.OnConfirm(f.Owned, f.BlobState, verdict.Final()) {
		case files.Finish:
			status, f.Verdict, dispatched = files.Done, verdict, false
		case files.Wait:
			dispatched = false // settle dispatches it
		case files.Carry:
			if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'processing', object_key = $2, updated_at = now()
				WHERE sha256 = $1`, f.SHA256, f.ObjectKey); err != nil {
				return err
			}
			f.BlobState = files.BlobProcessing
		}
		if err := tx.QueryRow(ctx, `UPDATE uploads SET status = $2, dispatched = $3, confirmed_at = now(), updated_at = now()
			WHERE id = $1 RETURNING updated_at`, id, status, dispatched).Scan(&f.UpdatedAt); err != nil {
			return err
		}
		f.Status = status
		if status == files.Done { // Finish: complete now, as at creation
			oid, err := enqueueCompleted(ctx, tx, f.ID, f.SHA256, f.Verdict)
			ids = append(ids, oid)
			return err
		}
		if !dispatched {
			return nil
		}
		oid, err := enqueueUploaded(ctx, tx, f)
		ids = append(ids, oid)
		return err
	})
	return f, ids, err
}

// enqueueCompleted queues file.completed for an upload done with verdict v.
// Every upload that finishes gets exactly one: through processing, or at
// once when its tenant already owns the judged content.
func enqueueCompleted(ctx context.Context, tx pgx.Tx, id, sha string, v contract.Verdict) (int64, error) {
	return enqueue(ctx, tx, contract.TopicFileCompleted, contract.FileCompleted{
		Version: contract.SchemaVersion, FileID: id, SHA256: sha, Status: string(files.Done), Verdict: v,
	})
}

// enqueueUploaded queues file.uploaded: it asks the extractor to verify
// (and extract) an upload's own bytes, with the password lists of the
// upload and its tenant, still sealed.
func enqueueUploaded(ctx context.Context, tx pgx.Tx, f files.File) (int64, error) {
	lists, err := sealedLists(ctx, tx, f.ID)
	if err != nil {
		return 0, err
	}
	return enqueue(ctx, tx, contract.TopicFileUploaded, contract.FileUploaded{Version: contract.SchemaVersion,
		FileID: f.ID, SHA256: f.SHA256, Size: f.Size, ObjectKey: f.ObjectKey, ContentType: f.ContentType,
		Name: f.Name, Passwords: lists})
}

// sealedLists returns the sealed password lists an upload brings: its
// tenant's, then its own.
func sealedLists(ctx context.Context, tx pgx.Tx, uploadID string) ([]contract.SealedPasswords, error) {
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

// RecordExtraction implements files.Store.
func (s *Store) RecordExtraction(ctx context.Context, ev contract.FileExtracted, d files.Decider) ([]int64, error) {
	var ids []int64
	err := s.withTx(ctx, "record extraction", func(tx pgx.Tx) error {
		var state, objectKey string
		err := tx.QueryRow(ctx, `SELECT state, object_key FROM blobs WHERE sha256 = $1 FOR UPDATE`, ev.SHA256).Scan(&state, &objectKey)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // content we never issued: nothing to record
		}
		if err != nil {
			return err
		}
		switch files.OnExtraction(ev.Rejection != nil, state, ev.ObjectKey == objectKey) {
		case files.Ignore:
			return nil
		case files.RejectContent:
			return reject(ctx, tx, ev, &ids)
		case files.RejectUpload:
			return rejectUpload(ctx, tx, ev, &ids)
		case files.VerifyContent:
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
				metadata = $5, findings = $6, size = $7, object_key = $8, reason = NULL, archive_passwords = $9,
				views = $10, updated_at = now() WHERE sha256 = $1`,
				ev.SHA256, ev.MD5, ev.SHA1, ev.MIMEType, meta, findings, ev.Size, ev.ObjectKey, nullIfEmpty(ev.Passwords),
				nullIfNone(ev.Views)); err != nil {
				return err
			}
		case files.ProveUpload:
			// The scanners try the lists this upload brings on content they
			// could not open (docs/scanner-contract.md): keep them, so that
			// rescans try them too.
			if len(ev.Passwords) > 0 {
				if _, err := tx.Exec(ctx, `UPDATE blobs SET archive_passwords = (
					SELECT jsonb_agg(x ORDER BY n) FROM (
						SELECT x, n FROM jsonb_array_elements(coalesce(archive_passwords, '[]') || $2::jsonb)
							WITH ORDINALITY AS t(x, n) ORDER BY n DESC LIMIT $3) kept)
					WHERE sha256 = $1`, ev.SHA256, ev.Passwords, maxContentLists); err != nil {
					return err
				}
			}
		}
		if err := prove(ctx, tx, ev); err != nil {
			return err
		}
		return settle(ctx, tx, ev.SHA256, d, &ids)
	})
	return ids, err
}

// prove records that the tenant of the upload whose own bytes the extractor
// just verified holds the content.
func prove(ctx context.Context, tx pgx.Tx, ev contract.FileExtracted) error {
	_, err := tx.Exec(ctx, `INSERT INTO possessions (tenant, sha256)
		SELECT u.tenant, u.sha256 FROM uploads u
		WHERE u.sha256 = $1 AND (u.object_key = $2 OR (u.object_key IS NULL AND u.id::text = $3))
		ON CONFLICT DO NOTHING`, ev.SHA256, ev.ObjectKey, ev.FileID)
	return err
}

// reject rejects the content whose carrying bytes failed, with the uploads
// that relied on those bytes, and lets the next upload waiting with its own
// bytes carry the content.
func reject(ctx context.Context, tx pgx.Tx, ev contract.FileExtracted, ids *[]int64) error {
	reason := ev.Rejection.Code + ": " + ev.Rejection.Reason
	var objectKey string
	if err := tx.QueryRow(ctx, `UPDATE blobs SET state = 'rejected', reason = $2, updated_at = now()
		WHERE sha256 = $1 RETURNING object_key`, ev.SHA256, reason).Scan(&objectKey); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `UPDATE uploads SET status = 'rejected', reason = $2, updated_at = now()
		WHERE sha256 = $1 AND status = 'processing' AND (object_key IS NULL OR object_key = $3) RETURNING id`,
		ev.SHA256, reason, objectKey)
	if err != nil {
		return err
	}
	if err := completeRejected(ctx, tx, rows, ev.SHA256, ids); err != nil {
		return err
	}
	return promote(ctx, tx, ev.SHA256, ids)
}

// rejectUpload rejects the one upload whose own bytes failed.
func rejectUpload(ctx context.Context, tx pgx.Tx, ev contract.FileExtracted, ids *[]int64) error {
	rows, err := tx.Query(ctx, `UPDATE uploads SET status = 'rejected', reason = $3, updated_at = now()
		WHERE sha256 = $1 AND object_key = $2 AND status = 'processing' RETURNING id`,
		ev.SHA256, ev.ObjectKey, ev.Rejection.Code+": "+ev.Rejection.Reason)
	if err != nil {
		return err
	}
	return completeRejected(ctx, tx, rows, ev.SHA256, ids)
}

func completeRejected(ctx context.Context, tx pgx.Tx, rows pgx.Rows, sha string, ids *[]int64) error {
	rejected, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range rejected {
		oid, err := enqueue(ctx, tx, contract.TopicFileCompleted, contract.FileCompleted{
			Version: contract.SchemaVersion, FileID: id, SHA256: sha,
			Status: string(files.Rejected), Verdict: contract.VerdictUnscanned,
		})
		if err != nil {
			return err
		}
		*ids = append(*ids, oid)
	}
	return nil
}

// promote makes the oldest upload waiting with its own bytes carry content
// whose carrying bytes were rejected.
func promote(ctx context.Context, tx pgx.Tx, sha string, ids *[]int64) error {
	f, err := scanFile(tx.QueryRow(ctx, fileColumns+` WHERE u.sha256 = $1 AND u.status = 'processing'
		AND NOT u.dispatched AND u.object_key IS NOT NULL ORDER BY u.confirmed_at, u.id LIMIT 1 FOR UPDATE OF u`, sha))
	if errors.Is(err, files.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'processing', object_key = $2, reason = NULL, updated_at = now()
		WHERE sha256 = $1`, sha, f.ObjectKey); err != nil {
		return err
	}
	return dispatch(ctx, tx, f, ids)
}

// dispatch queues file.uploaded for an upload's own bytes.
func dispatch(ctx context.Context, tx pgx.Tx, f files.File, ids *[]int64) error {
	if _, err := tx.Exec(ctx, `UPDATE uploads SET dispatched = true, redrives = 0, updated_at = now() WHERE id = $1`, f.ID); err != nil {
		return err
	}
	oid, err := enqueueUploaded(ctx, tx, f)
	*ids = append(*ids, oid)
	return err
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
	var previous contract.Verdict
	if err := tx.QueryRow(ctx, `SELECT findings, verdict FROM blobs WHERE sha256 = $1`, sha).Scan(&findings, &previous); err != nil {
		return err
	}
	v, complete := d.Decide(results, findings)
	if !complete {
		return nil
	}
	if v == previous {
		return finish(ctx, tx, sha, v, ids)
	}
	if _, err := tx.Exec(ctx, `UPDATE blobs SET verdict = $2, updated_at = now() WHERE sha256 = $1`, sha, v); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO verdict_history (sha256, verdict) VALUES ($1, $2)`, sha, v); err != nil {
		return err
	}
	metrics.Verdicts.WithLabelValues(string(v)).Inc()
	if previous.Final() {
		if err := announceChange(ctx, tx, sha, v, previous, ids); err != nil {
			return err
		}
	}
	return finish(ctx, tx, sha, v, ids)
}

// announceChange queues file.verdict_changed for every finished upload of
// the content whose verdict went from previous to v.
func announceChange(ctx context.Context, tx pgx.Tx, sha string, v, previous contract.Verdict, ids *[]int64) error {
	rows, err := tx.Query(ctx, `SELECT id FROM uploads WHERE sha256 = $1 AND status = 'done' ORDER BY id`, sha)
	if err != nil {
		return err
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range done {
		oid, err := enqueue(ctx, tx, contract.TopicVerdictChanged, contract.FileVerdictChanged{
			Version: contract.SchemaVersion, FileID: id, SHA256: sha, Verdict: v, Previous: previous,
		})
		if err != nil {
			return err
		}
		*ids = append(*ids, oid)
	}
	return nil
}

// finish completes the uploads waiting for the content's verdict v, and
// dispatches those that waited for it with bytes of their own.
func finish(ctx context.Context, tx pgx.Tx, sha string, v contract.Verdict, ids *[]int64) error {
	// Only uploads whose tenant proved possession finish; the others wait
	// for their own bytes to be verified.
	rows, err := tx.Query(ctx, `UPDATE uploads u SET status = 'done', updated_at = now()
		WHERE u.sha256 = $1 AND u.status = 'processing'
		  AND EXISTS (SELECT 1 FROM possessions p WHERE p.tenant = u.tenant AND p.sha256 = u.sha256)
		RETURNING u.id`, sha)
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
	// Uploads that waited for the content to settle now have their own
	// bytes verified; the scanners answer them from their cache.
	rows, err = tx.Query(ctx, fileColumns+` WHERE u.sha256 = $1 AND u.status = 'processing'
		AND NOT u.dispatched AND u.object_key IS NOT NULL FOR UPDATE OF u`, sha)
	if err != nil {
		return err
	}
	waiting, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (files.File, error) { return scanFile(row) })
	if err != nil {
		return err
	}
	for _, f := range waiting {
		if err := dispatch(ctx, tx, f, ids); err != nil {
			return err
		}
	}
	return nil
}

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
		if f.BlobState != files.BlobVerified || !f.Owned {
			return files.ErrNotReady // the same answer whether or not another tenant has the content
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
