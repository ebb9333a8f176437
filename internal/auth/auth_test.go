package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type issuer struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	kid  string
	hits int
}

func newIssuer(t *testing.T) *issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	is := &issuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.hits++
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &is.key.PublicKey, KeyID: is.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	return is
}

func (is *issuer) sign(t *testing.T, key any, kid string, claims any) string {
	alg := jose.RS256
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	require.NoError(t, err)
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	require.NoError(t, err)
	return tok
}

func TestOIDC(t *testing.T) {
	is := newIssuer(t)
	o := &OIDC{Issuer: is.srv.URL, Audience: "intellidox", AdminClaim: "idx_admin"}
	now := time.Now()
	good := map[string]any{"iss": is.srv.URL, "aud": "intellidox", "sub": "alice", "tenant": "acme",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	p, err := o.Authenticate(context.Background(), is.sign(t, is.key, "k1", good))
	require.NoError(t, err)
	assert.Equal(t, Principal{Tenant: "acme", Subject: "oidc:alice"}, p)

	admin, err := o.Authenticate(context.Background(), is.sign(t, is.key, "k1", with("idx_admin", true)))
	require.NoError(t, err)
	assert.True(t, admin.Admin)

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bad := map[string]string{
		"wrong issuer":      is.sign(t, is.key, "k1", with("iss", "https://evil.example")),
		"wrong audience":    is.sign(t, is.key, "k1", with("aud", "someone-else")),
		"expired":           is.sign(t, is.key, "k1", with("exp", now.Add(-time.Hour).Unix())),
		"no expiry":         is.sign(t, is.key, "k1", with("exp", nil)),
		"not yet valid":     is.sign(t, is.key, "k1", with("nbf", now.Add(time.Hour).Unix())),
		"no tenant":         is.sign(t, is.key, "k1", with("tenant", nil)),
		"signed by another": is.sign(t, other, "k1", good),
		"unknown key id":    is.sign(t, other, "k9", good),
		"ec key not in set": is.sign(t, ec, "k1", good),
		"garbage":           "a.b.c",
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := o.Authenticate(context.Background(), tok)
			assert.ErrorIs(t, err, ErrUnauthorized)
		})
	}
	_, err = o.Authenticate(context.Background(), "idx_notajwt")
	assert.ErrorIs(t, err, ErrNotMine)
	assert.LessOrEqual(t, is.hits, 2, "unknown key ids refresh the key set at most every 30 s")
}

type keyStore map[string]Key

func (s keyStore) LookupKey(_ context.Context, hash string) (Key, error) {
	k, ok := s[hash]
	if !ok {
		return Key{}, ErrUnknownKey
	}
	return k, nil
}

func TestAPIKeysAndMiddleware(t *testing.T) {
	key := NewKey()
	assert.True(t, strings.HasPrefix(key, KeyPrefix))
	assert.NotEqual(t, key, NewKey())
	store := keyStore{HashKey(key): {ID: "k1", Tenant: "acme"}}
	keys := &APIKeys{Store: store, CacheTTL: time.Hour}
	var seen Principal
	h := Middleware([]Authenticator{keys}, NewLimiter(1, 2), nil,
		func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/events") },
		func(w http.ResponseWriter, _ *http.Request, err error) {
			status := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrUnauthorized):
				status = http.StatusUnauthorized
			case strings.Contains(err.Error(), "rate_limited"):
				status = http.StatusTooManyRequests
			}
			w.WriteHeader(status)
		})(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen, _ = From(r.Context()) }))
	call := func(path, header string) int {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, http.StatusUnauthorized, call("/v1/files", ""))
	assert.Equal(t, http.StatusUnauthorized, call("/v1/files", "Bearer idx_wrong"))
	assert.Equal(t, http.StatusUnauthorized, call("/v1/files", "Basic "+key))
	assert.Equal(t, http.StatusUnauthorized, call("/v1/files?access_token="+key, ""), "query tokens only on event streams")
	assert.Equal(t, http.StatusOK, call("/v1/files/x/events?access_token="+key, ""))
	assert.Equal(t, "acme", seen.Tenant)
	assert.Equal(t, http.StatusOK, call("/v1/files", "Bearer "+key))
	assert.Equal(t, http.StatusTooManyRequests, call("/v1/files", "Bearer "+key), "burst of 2 used up")

	delete(store, HashKey(key)) // revoked, but cached
	keys.CacheTTL = 0
	keys.valid.Purge()
	_, err := keys.Authenticate(context.Background(), key)
	assert.ErrorIs(t, err, ErrUnauthorized, "a revoked key stops working once the cache expires")
}

func TestSidecarOnly(t *testing.T) {
	h := SidecarOnly("s3cret", func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(401) })(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	for token, want := range map[string]int{"": 401, "wrong": 401, "s3cret": 200} {
		r := httptest.NewRequest(http.MethodPost, "/events/x", nil)
		if token != "" {
			r.Header.Set("dapr-api-token", token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, want, w.Code, "token %q", token)
	}
}

// countingStore counts the look-ups that reach the store (the database).
type countingStore struct {
	keyStore
	mu      sync.Mutex
	lookups map[string]int
}

func (s *countingStore) LookupKey(ctx context.Context, hash string) (Key, error) {
	s.mu.Lock()
	s.lookups[hash]++
	s.mu.Unlock()
	return s.keyStore.LookupKey(ctx, hash)
}

func (s *countingStore) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.lookups {
		n += v
	}
	return n
}

// TestKeyCacheSurvivesAFlood: misses are remembered, and no number of bad
// keys pushes a valid key out of the cache (the cache used to empty itself
// at 10,000 entries, sending every valid caller to the database).
func TestKeyCacheSurvivesAFlood(t *testing.T) {
	key := NewKey()
	store := &countingStore{keyStore: keyStore{HashKey(key): {ID: "k1", Tenant: "acme"}}, lookups: map[string]int{}}
	keys := &APIKeys{Store: store, CacheTTL: time.Hour, CacheSize: 100}
	ctx := context.Background()
	_, err := keys.Authenticate(ctx, key)
	require.NoError(t, err)
	bad := NewKey()
	for i := 0; i < 3; i++ {
		_, err = keys.Authenticate(ctx, bad)
		assert.ErrorIs(t, err, ErrUnauthorized)
	}
	assert.Equal(t, 1, store.lookups[HashKey(bad)], "a miss is remembered")
	for i := 0; i < 10050; i++ {
		_, _ = keys.Authenticate(ctx, NewKey())
	}
	p, err := keys.Authenticate(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "acme", p.Tenant)
	assert.Equal(t, 1, store.lookups[HashKey(key)], "the valid key stayed cached through 10,050 bad ones")
	assert.Equal(t, 100, keys.misses.Len(), "the miss cache is bounded and evicts one entry at a time")
	_, ok := keys.Peek(key)
	assert.True(t, ok)

	// Valid keys evict one at a time too, oldest first.
	others := make([]string, 100)
	for i := range others {
		others[i] = NewKey()
		store.keyStore[HashKey(others[i])] = Key{ID: fmt.Sprint(i), Tenant: "t"}
		_, err := keys.Authenticate(ctx, others[i])
		require.NoError(t, err)
	}
	assert.Equal(t, 100, keys.valid.Len())
	_, ok = keys.Peek(others[0])
	assert.True(t, ok, "adding one entry to a full cache evicts one, not all")
	_, ok = keys.Peek(key)
	assert.False(t, ok, "the least recently used key was the one evicted")
}

// TestFailedAuthIsBounded: an address that keeps failing is refused before
// any look-up, while keys remembered as valid, and other addresses, pass.
func TestFailedAuthIsBounded(t *testing.T) {
	key, fresh := NewKey(), NewKey()
	store := &countingStore{keyStore: keyStore{HashKey(key): {ID: "k1", Tenant: "acme"}, HashKey(fresh): {ID: "k2", Tenant: "acme"}},
		lookups: map[string]int{}}
	keys := &APIKeys{Store: store, CacheTTL: time.Hour}
	trusted, err := ParsePrefixes("127.0.0.9, ::1/128")
	require.NoError(t, err)
	failures := NewFailureLimiter(0.001, 5, trusted)
	h := Middleware([]Authenticator{keys}, nil, failures, func(*http.Request) bool { return false },
		func(w http.ResponseWriter, _ *http.Request, err error) {
			switch {
			case errors.Is(err, ErrTooManyFailures):
				w.WriteHeader(http.StatusTooManyRequests)
			case errors.Is(err, ErrUnauthorized):
				w.WriteHeader(http.StatusUnauthorized)
			default:
				w.WriteHeader(http.StatusInternalServerError)
			}
		})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	call := func(from, key string, xff ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/v1/files", nil)
		r.RemoteAddr = from
		r.Header.Set("Authorization", "Bearer "+key)
		for _, x := range xff {
			r.Header.Add("X-Forwarded-For", x)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const attacker, valid = "127.0.0.2:4000", "127.0.0.1:5000"
	require.Equal(t, http.StatusOK, call(attacker, key).Code, "a valid key is remembered")
	codes := map[int]int{}
	for i := 0; i < 200; i++ {
		w := call(attacker, NewKey())
		codes[w.Code]++
		if w.Code == http.StatusTooManyRequests {
			assert.NotEmpty(t, w.Header().Get("Retry-After"))
		}
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 5, http.StatusTooManyRequests: 195}, codes)
	assert.Equal(t, 6, store.total(), "after the limit, bad keys cause no look-up at all")
	assert.Equal(t, http.StatusOK, call(attacker, key).Code, "a key remembered as valid still passes from that address")
	assert.Equal(t, http.StatusTooManyRequests, call(attacker, fresh).Code, "an address out of failures gets no look-up, even for a good key")
	assert.Equal(t, http.StatusOK, call(valid, fresh).Code, "other addresses are unaffected")

	// Behind a trusted proxy the client is the forwarded address; from
	// anyone else the header is ignored.
	assert.Equal(t, http.StatusTooManyRequests, call("127.0.0.9:1", NewKey(), "127.0.0.2").Code)
	assert.Equal(t, http.StatusUnauthorized, call("127.0.0.9:1", NewKey(), "127.0.0.3, 127.0.0.9").Code)
	assert.Equal(t, http.StatusTooManyRequests, call(attacker, NewKey(), "127.0.0.4").Code, "an untrusted peer cannot pick its address")
	assert.Equal(t, http.StatusUnauthorized, call("[::1]:1", NewKey(), "2001:db8::1").Code)
	for i := 0; i < 5; i++ {
		call("[::1]:1", NewKey(), "2001:db8::2")
	}
	assert.Equal(t, http.StatusTooManyRequests, call("[::1]:1", NewKey(), "2001:db8::ffff").Code, "IPv6 clients count by /64")
}
