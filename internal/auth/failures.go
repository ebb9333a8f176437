package auth

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/intellidox/intellidox/internal/problem"
)

// FailureLimiter bounds failed authentications per client address, so that
// guessing keys is slow and a flood of bad credentials costs no database
// work: once an address has used up its failures, its requests are refused
// before any credential is looked up (keys remembered as valid still pass,
// see APIKeys.Peek). It is per api replica, like Limiter.
type FailureLimiter struct {
	rate  float64 // failures per second
	burst int
	// trusted are proxies whose X-Forwarded-For is believed.
	trusted []netip.Prefix

	mu      sync.Mutex
	buckets *lru.Cache[netip.Prefix, *failBucket]
}

// ErrTooManyFailures refuses an address that failed authentication too often.
var ErrTooManyFailures = problem.New(problem.RateLimited, "too_many_auth_failures",
	"Too many failed authentications from this address; retry after the Retry-After seconds.")

// NewFailureLimiter allows perSecond failed authentications per client
// address with bursts of burst; perSecond <= 0 disables it (nil). Requests
// from a trusted proxy are attributed to the client its X-Forwarded-For
// names.
func NewFailureLimiter(perSecond float64, burst int, trusted []netip.Prefix) *FailureLimiter {
	if perSecond <= 0 {
		return nil
	}
	c, _ := lru.New[netip.Prefix, *failBucket](100000)
	return &FailureLimiter{rate: perSecond, burst: max(1, burst), trusted: trusted, buckets: c}
}

// ParsePrefixes parses a comma-separated list of addresses or CIDR prefixes.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// client is the address a request is counted against: the peer, or, from
// a trusted proxy, the last address in X-Forwarded-For that is not a
// trusted proxy. IPv6 clients are counted by /64, which one host usually
// holds whole.
func (l *FailureLimiter) client(r *http.Request) netip.Prefix {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	addr = addr.Unmap()
	if l.isTrusted(addr) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !l.isTrusted(addr) {
				break
			}
		}
	}
	bits := addr.BitLen()
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

func (l *FailureLimiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// failBucket is a token bucket of failures that can take one back, which
// rate.Limiter cannot once a reservation is due.
type failBucket struct {
	tokens float64
	last   time.Time
}

// Admit takes one failure from r's client in advance, so that concurrent
// attempts cannot overdraw it. When none is left it returns ok false and the
// Retry-After value, in whole seconds. Otherwise the caller authenticates and
// calls release unless the attempt failed, which gives the failure back.
func (l *FailureLimiter) Admit(r *http.Request) (release func(), ok bool, retry string) {
	c := l.client(r)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets.Get(c)
	if !found {
		b = &failBucket{tokens: float64(l.burst), last: now}
		l.buckets.Add(c, b)
	}
	b.tokens = min(float64(l.burst), b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		wait := (1 - b.tokens) / l.rate
		return nil, false, strconv.Itoa(max(1, int(math.Ceil(wait))))
	}
	b.tokens--
	return func() {
		l.mu.Lock()
		b.tokens = min(float64(l.burst), b.tokens+1)
		l.mu.Unlock()
	}, true, ""
}
