package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"
)

// KeyPrefix starts every API key, so they are recognisable (and findable by
// secret scanners) and told apart from JWTs.
const KeyPrefix = "idx_"

// NewKey returns a fresh random API key.
func NewKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Key is a stored API key, without the key itself.
type Key struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Name      string     `json:"name"`
	Admin     bool       `json:"admin"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// KeyStore finds keys by hash.
type KeyStore interface {
	// LookupKey returns the unrevoked key with this hash, or ErrUnknownKey.
	LookupKey(ctx context.Context, hash string) (Key, error)
}

// ErrUnknownKey means no unrevoked key has the hash.
var ErrUnknownKey = errors.New("unknown or revoked key")

// APIKeys authenticates API keys against a store, caching answers briefly:
// a revoked key stops working within CacheTTL.
type APIKeys struct {
	Store    KeyStore
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	p       Principal
	ok      bool
	expires time.Time
}

// Authenticate implements Authenticator.
func (a *APIKeys) Authenticate(ctx context.Context, cred string) (Principal, error) {
	if !strings.HasPrefix(cred, KeyPrefix) {
		return Principal{}, ErrNotMine
	}
	hash := HashKey(cred)
	a.mu.Lock()
	c, hit := a.cache[hash]
	a.mu.Unlock()
	if hit && time.Now().Before(c.expires) {
		if !c.ok {
			return Principal{}, ErrUnauthorized
		}
		return c.p, nil
	}
	k, err := a.Store.LookupKey(ctx, hash)
	switch {
	case errors.Is(err, ErrUnknownKey):
		a.remember(hash, cached{})
		return Principal{}, ErrUnauthorized
	case err != nil:
		return Principal{}, err // e.g. the database is down: 503, not 401
	}
	p := Principal{Tenant: k.Tenant, Subject: "key:" + k.ID, Admin: k.Admin}
	a.remember(hash, cached{p: p, ok: true})
	return p, nil
}

func (a *APIKeys) remember(hash string, c cached) {
	c.expires = time.Now().Add(a.CacheTTL)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cache == nil || len(a.cache) > 10000 {
		a.cache = map[string]cached{}
	}
	a.cache[hash] = c
}
