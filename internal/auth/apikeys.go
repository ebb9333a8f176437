package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
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
// a revoked key stops working within CacheTTL. Known keys and unknown ones
// are cached apart, each bounded and evicting its least recently used entry
// one at a time, so that a flood of bad keys never pushes a valid key out.
type APIKeys struct {
	Store    KeyStore
	CacheTTL time.Duration
	// MissTTL is how long an unknown key is remembered (default CacheTTL):
	// the same bad key again costs no database query.
	MissTTL time.Duration
	// CacheSize bounds each cache (default 10,000 entries).
	CacheSize int

	once          sync.Once
	valid, misses *lru.Cache[string, cached]
}

type cached struct {
	p       Principal
	expires time.Time
}

func (a *APIKeys) init() {
	a.once.Do(func() {
		size := a.CacheSize
		if size <= 0 {
			size = 10000
		}
		a.valid, _ = lru.New[string, cached](size)
		a.misses, _ = lru.New[string, cached](size)
	})
}

// Peek returns the caller of a key remembered as valid, without any store
// query. It lets valid callers through while their address is refused for
// failed attempts (FailureLimiter).
func (a *APIKeys) Peek(cred string) (Principal, bool) {
	if !strings.HasPrefix(cred, KeyPrefix) {
		return Principal{}, false
	}
	a.init()
	c, ok := a.valid.Get(HashKey(cred))
	if !ok || !time.Now().Before(c.expires) {
		return Principal{}, false
	}
	return c.p, true
}

// Authenticate implements Authenticator.
func (a *APIKeys) Authenticate(ctx context.Context, cred string) (Principal, error) {
	if !strings.HasPrefix(cred, KeyPrefix) {
		return Principal{}, ErrNotMine
	}
	a.init()
	hash := HashKey(cred)
	now := time.Now()
	if c, ok := a.valid.Get(hash); ok && now.Before(c.expires) {
		return c.p, nil
	}
	if c, ok := a.misses.Get(hash); ok && now.Before(c.expires) {
		return Principal{}, ErrUnauthorized
	}
	k, err := a.Store.LookupKey(ctx, hash)
	switch {
	case errors.Is(err, ErrUnknownKey):
		ttl := a.MissTTL
		if ttl <= 0 {
			ttl = a.CacheTTL
		}
		a.misses.Add(hash, cached{expires: now.Add(ttl)})
		return Principal{}, ErrUnauthorized
	case err != nil:
		return Principal{}, err // e.g. the database is down: 503, not 401
	}
	p := Principal{Tenant: k.Tenant, Subject: "key:" + k.ID, Admin: k.Admin}
	a.misses.Remove(hash)
	a.valid.Add(hash, cached{p: p, expires: now.Add(a.CacheTTL)})
	return p, nil
}
