package pgstore

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/auth"
)

// CreateKey stores a new key for tenant and returns it with the secret,
// which is not stored and cannot be shown again.
func (s *Store) CreateKey(ctx context.Context, tenant, name string, admin bool) (auth.Key, string, error) {
	secret := auth.NewKey()
	k := auth.Key{ID: uuid.NewString(), Tenant: tenant, Name: name, Admin: admin}
	err := s.pool.QueryRow(ctx, `INSERT INTO api_keys (id, tenant, name, hash, admin) VALUES ($1, $2, $3, $4, $5)
		RETURNING created_at`, k.ID, tenant, name, auth.HashKey(secret), admin).Scan(&k.CreatedAt)
	if err != nil {
		return auth.Key{}, "", classify("create key", err)
	}
	return k, secret, nil
}

// EnsureKey stores a given secret for tenant unless its hash exists. It is
// for a bootstrap key supplied by configuration.
func (s *Store) EnsureKey(ctx context.Context, tenant, name, secret string, admin bool) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (id, tenant, name, hash, admin) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (hash) DO NOTHING`, uuid.NewString(), tenant, name, auth.HashKey(secret), admin)
	return classify("ensure key", err)
}

// RevokeKey revokes a key by id. It reports whether a key was revoked.
func (s *Store) RevokeKey(ctx context.Context, id string) (bool, error) {
	if !validUUID(id) {
		return false, nil
	}
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return false, classify("revoke key", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ListKeys lists keys, newest first, without secrets.
func (s *Store) ListKeys(ctx context.Context) ([]auth.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, name, admin, created_at, revoked_at FROM api_keys ORDER BY created_at DESC`)
	if err != nil {
		return nil, classify("list keys", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[auth.Key])
	return keys, classify("list keys", err)
}

// LookupKey implements auth.KeyStore.
func (s *Store) LookupKey(ctx context.Context, hash string) (auth.Key, error) {
	var k auth.Key
	err := s.pool.QueryRow(ctx, `SELECT id, tenant, name, admin, created_at, revoked_at FROM api_keys
		WHERE hash = $1 AND revoked_at IS NULL`, hash).Scan(&k.ID, &k.Tenant, &k.Name, &k.Admin, &k.CreatedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, auth.ErrUnknownKey
	}
	return k, classify("lookup key", err)
}
