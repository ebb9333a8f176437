package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// OIDC validates JWTs from one issuer for one audience: signature against
// the issuer's JWKS (found through its discovery document), iss, aud, exp
// and nbf. The tenant comes from TenantClaim.
type OIDC struct {
	Issuer      string
	Audience    string
	TenantClaim string // default "tenant"
	AdminClaim  string // optional: a boolean claim marking administrators
	HTTP        *http.Client

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.PS256}

// Authenticate implements Authenticator.
func (o *OIDC) Authenticate(ctx context.Context, cred string) (Principal, error) {
	if strings.Count(cred, ".") != 2 {
		return Principal{}, ErrNotMine
	}
	tok, err := jwt.ParseSigned(cred, algorithms)
	if err != nil {
		return Principal{}, ErrUnauthorized
	}
	kid := ""
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	key, err := o.key(ctx, kid)
	if err != nil {
		return Principal{}, err
	}
	var std jwt.Claims
	extra := map[string]any{}
	if err := tok.Claims(key, &std, &extra); err != nil {
		return Principal{}, ErrUnauthorized
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: o.Issuer, AnyAudience: jwt.Audience{o.Audience}, Time: time.Now()}, time.Minute); err != nil {
		return Principal{}, ErrUnauthorized
	}
	if std.Expiry == nil {
		return Principal{}, ErrUnauthorized // tokens without an expiry are refused
	}
	claim := o.TenantClaim
	if claim == "" {
		claim = "tenant"
	}
	tenant, _ := extra[claim].(string)
	if tenant == "" {
		return Principal{}, ErrUnauthorized
	}
	p := Principal{Tenant: tenant, Subject: "oidc:" + std.Subject}
	if o.AdminClaim != "" {
		p.Admin, _ = extra[o.AdminClaim].(bool)
	}
	return p, nil
}

// key returns the signing key kid, refreshing the JWKS when kid is unknown
// (key rotation), at most every 30 seconds.
func (o *OIDC) key(ctx context.Context, kid string) (any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	find := func() any {
		for _, k := range o.keys.Keys {
			if (kid == "" || k.KeyID == kid) && k.Use != "enc" {
				return k.Key
			}
		}
		return nil
	}
	if k := find(); k != nil {
		return k, nil
	}
	if time.Since(o.fetched) < 30*time.Second {
		return nil, ErrUnauthorized
	}
	if err := o.fetch(ctx); err != nil {
		return nil, err
	}
	if k := find(); k != nil {
		return k, nil
	}
	return nil, ErrUnauthorized
}

func (o *OIDC) fetch(ctx context.Context) error {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := o.getJSON(ctx, strings.TrimRight(o.Issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return err
	}
	if disc.Issuer != o.Issuer || disc.JWKSURI == "" {
		return fmt.Errorf("oidc: discovery document of %s names issuer %q", o.Issuer, disc.Issuer)
	}
	var set jose.JSONWebKeySet
	if err := o.getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return err
	}
	o.keys, o.fetched = set, time.Now()
	return nil
}

func (o *OIDC) getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := o.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("oidc: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("oidc: %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return errors.Join(fmt.Errorf("oidc: decode %s", url), err)
	}
	return nil
}
