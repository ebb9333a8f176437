package pgstore

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/files"
)

// listFiles pages through a tenant's uploads, newest first, by keyset on
// (created_at, id). q matches a name substring or any of the three hashes.
// SHA-1 and MD5 come from the bytes, so they match only content the tenant
// proved it holds (files.Redact): otherwise a tenant could learn another
// tenant's content's hashes by declaring its SHA-256.
const listFiles = fileColumns + `
WHERE u.tenant = $1
  AND ($2 = '' OR u.name ILIKE '%' || $2 || '%' ESCAPE '\' OR u.sha256 = $3
       OR (p.tenant IS NOT NULL AND (b.sha1 = $3 OR b.md5 = $3)))
  AND ($4 = '' OR u.sha256 = $4)
  AND ($5 = '' OR (p.tenant IS NOT NULL AND b.sha1 = $5))
  AND ($6 = '' OR (p.tenant IS NOT NULL AND b.md5 = $6))
  AND ($7::timestamptz IS NULL OR (u.created_at, u.id) < ($7, $8::uuid))
ORDER BY u.created_at DESC, u.id DESC
LIMIT $9`

// List implements files.Store.
func (s *Store) List(ctx context.Context, tenant string, q files.Query) ([]files.File, string, error) {
	var after *time.Time
	afterID := "00000000-0000-0000-0000-000000000000"
	if q.Cursor != "" {
		t, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", files.ErrBadCursor
		}
		after, afterID = &t, id
	}
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q.Text)
	rows, err := s.pool.Query(ctx, listFiles, tenant, like, strings.ToLower(q.Text),
		q.SHA256, q.SHA1, q.MD5, after, afterID, q.Limit+1)
	if err != nil {
		return nil, "", classify("list files", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (files.File, error) { return scanFile(row) })
	if err != nil {
		return nil, "", classify("list files", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		last := out[len(out)-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", err
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok || !validUUID(id) {
		return time.Time{}, "", errors.New("bad cursor")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, id, err
}
