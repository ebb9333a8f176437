package auth

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per caller. It is per api replica: with N
// replicas behind a balancer a caller gets up to N times the rate, which the
// deployment sizes for (docs/security.md).
type Limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// NewLimiter allows perSecond requests per caller with bursts of burst.
// perSecond <= 0 disables limiting (nil Limiter).
func NewLimiter(perSecond float64, burst int) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{rate: rate.Limit(perSecond), burst: max(1, burst), buckets: map[string]*bucket{}}
}

// Allow takes one token for caller. When refused it also returns the
// Retry-After value, in whole seconds.
func (l *Limiter) Allow(caller string) (bool, string) {
	now := time.Now()
	l.mu.Lock()
	b, ok := l.buckets[caller]
	if !ok {
		if len(l.buckets) > 100000 {
			l.evict(now)
		}
		b = &bucket{l: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[caller] = b
	}
	b.seen = now
	l.mu.Unlock()
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, strconv.Itoa(int(math.Ceil(d.Seconds())))
	}
	return true, ""
}

// evict drops buckets idle for a minute; the caller holds mu.
func (l *Limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) > time.Minute {
			delete(l.buckets, k)
		}
	}
}
