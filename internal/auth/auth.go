// Package auth authenticates API callers: API keys (stored only as hashes,
// revocable, each bound to a tenant) and, optionally, OIDC JWTs for SSO. It
// also holds the per-caller rate limiter. Every caller belongs to a tenant;
// the api scopes uploads, names and listings to it.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/intellidox/intellidox/internal/problem"
)

// Principal is an authenticated caller.
type Principal struct {
	Tenant  string
	Subject string // key id, or the token's subject
	Admin   bool
}

type ctxKey struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the caller of a request that passed the middleware.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Authenticator recognises one kind of credential. ErrNotMine means the
// credential is not of its kind, so the next authenticator may try.
type Authenticator interface {
	Authenticate(ctx context.Context, credential string) (Principal, error)
}

// ErrNotMine lets the next authenticator try a credential.
var ErrNotMine = errors.New("credential of another kind")

// Errors clients see.
var (
	ErrUnauthorized = problem.New(problem.Unauthorized, "unauthorized",
		"Send a valid API key or token as \"Authorization: Bearer <key>\".")
	ErrForbidden = problem.New(problem.Forbidden, "forbidden", "This operation needs an administrator key.")
)

// credential extracts the bearer credential. Server-Sent Events streams may
// pass it as ?access_token=, because browsers' EventSource cannot set headers.
func credential(r *http.Request, allowQuery bool) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(cred)
		}
		return ""
	}
	if allowQuery {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

// Authenticate tries each authenticator in turn.
func Authenticate(ctx context.Context, cred string, as ...Authenticator) (Principal, error) {
	if cred == "" {
		return Principal{}, ErrUnauthorized
	}
	for _, a := range as {
		p, err := a.Authenticate(ctx, cred)
		if errors.Is(err, ErrNotMine) {
			continue
		}
		return p, err
	}
	return Principal{}, ErrUnauthorized
}

// peeker answers for credentials it remembers as valid, without any query.
type peeker interface {
	Peek(cred string) (Principal, bool)
}

// Middleware requires a caller on every request it wraps, and rejects
// callers over their rate. allowQuery reports whether a request may carry
// its credential in the query string. failures, when set, bounds failed
// authentications per client address: a refused address gets 429 before
// any credential is looked up.
func Middleware(as []Authenticator, limiter *Limiter, failures *FailureLimiter, allowQuery func(*http.Request) bool, fail func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cred := credential(r, allowQuery(r))
			p, ok := peek(as, cred)
			if !ok {
				release := func() {}
				if failures != nil && cred != "" {
					var admitted bool
					var retry string
					if release, admitted, retry = failures.Admit(r); !admitted {
						w.Header().Set("Retry-After", retry)
						fail(w, r, ErrTooManyFailures)
						return
					}
				}
				var err error
				p, err = Authenticate(r.Context(), cred, as...)
				if !errors.Is(err, ErrUnauthorized) {
					release() // only failed authentications count
				}
				if err != nil {
					w.Header().Set("WWW-Authenticate", `Bearer realm="intellidox"`)
					fail(w, r, err)
					return
				}
			}
			if limiter != nil {
				if ok, retry := limiter.Allow(p.Tenant + "/" + p.Subject); !ok {
					w.Header().Set("Retry-After", retry)
					fail(w, r, problem.New(problem.RateLimited, "rate_limited",
						"Too many requests for this key; slow down and retry after the Retry-After seconds."))
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(With(r.Context(), p)))
		})
	}
}

func peek(as []Authenticator, cred string) (Principal, bool) {
	if cred == "" {
		return Principal{}, false
	}
	for _, a := range as {
		if pk, ok := a.(peeker); ok {
			if p, ok := pk.Peek(cred); ok {
				return p, true
			}
		}
	}
	return Principal{}, false
}

// SidecarOnly admits only requests carrying the app token the sidecar
// sends (dapr-api-token, from APP_API_TOKEN). An empty token admits all:
// token auth is off.
func SidecarOnly(token string, fail func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("dapr-api-token")
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				fail(w, r, problem.New(problem.Unauthorized, "unauthorized", "Only the Dapr sidecar may call this route."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// HashKey is how API keys are stored: SHA-256 of the whole key. Keys are 256
// random bits, so a fast hash is enough (nothing to brute-force).
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}
