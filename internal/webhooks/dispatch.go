package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Claimed is a due delivery a dispatcher took, with what sending it needs.
type Claimed struct {
	ID             string
	SubscriptionID string
	URL            string
	Secret         string
	Body           []byte
	Attempts       int       // including this one
	QueuedAt       time.Time // when the event was queued (or redriven)
}

// Outcome is what one attempt did.
type Outcome struct {
	Status     string    // pending (retry at Next), delivered or failed
	Next       time.Time // when pending
	HTTPStatus int       // 0: no answer
	Err        string    // why it did not count, for the delivery log
	Latency    time.Duration
}

// Queue is the durable delivery queue.
type Queue interface {
	// ClaimDeliveries takes up to limit due pending deliveries for lease,
	// counting an attempt for each, skipping rows other dispatchers hold
	// and subscriptions that already have perSubscription attempts in
	// flight.
	ClaimDeliveries(ctx context.Context, limit, perSubscription int, lease time.Duration) ([]Claimed, error)
	// FinishDelivery records an attempt's outcome and releases the claim.
	FinishDelivery(ctx context.Context, id string, o Outcome) error
	// ReleaseDelivery gives back a claim whose attempt never happened
	// (shutdown), uncounted.
	ReleaseDelivery(ctx context.Context, id string) error
}

// DefaultSchedule is the delay before each retry, as Svix does: eight
// attempts over about a day, then the delivery fails (the dead-letter
// store, from which it can be redriven).
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// ParseSchedule reads a comma-separated list of Go durations
// (WEBHOOK_RETRY_SCHEDULE), e.g. "5s,5m,30m,2h,5h,10h,10h".
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("retry schedule %q: want comma-separated non-negative durations", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// DispatchConfig tunes a Dispatcher.
type DispatchConfig struct {
	// Workers bounds attempts in flight in this process (default 64).
	Workers int
	// PerSubscription bounds one subscription's attempts in flight, so a
	// receiver that hangs holds at most this many workers (default 2).
	PerSubscription int
	// Timeout ends one attempt (default 10 s).
	Timeout time.Duration
	// Schedule is the delay before each retry (default DefaultSchedule).
	Schedule []time.Duration
	// Poll is how often the queue is read when nothing wakes the
	// dispatcher (default 1 s): retries come due, other replicas enqueue.
	Poll time.Duration
}

func (c *DispatchConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.PerSubscription <= 0 {
		c.PerSubscription = 2
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
}

// Dispatcher sends due deliveries. Any number may run, in one process or
// in several replicas: claims keep them from sending a row twice, and an
// expired claim (a replica died) is taken over.
type Dispatcher struct {
	q      Queue
	client *http.Client
	log    *slog.Logger
	cfg    DispatchConfig
	wake   chan struct{}
	now    func() time.Time
}

// NewDispatcher returns a dispatcher whose connections guard checks.
func NewDispatcher(q Queue, guard *Guard, log *slog.Logger, cfg DispatchConfig) *Dispatcher {
	cfg.defaults()
	return &Dispatcher{q: q, client: guard.Client(cfg.Timeout), log: log, cfg: cfg,
		wake: make(chan struct{}, 1), now: time.Now}
}

// Wake makes the dispatcher look at the queue now (new deliveries).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run sends deliveries until ctx ends, then waits for the attempts in
// flight to end (they are cut short and their claims released).
func (d *Dispatcher) Run(ctx context.Context) {
	done := make(chan struct{}, d.cfg.Workers)
	inflight := 0
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	// The lease outlives an attempt with room to spare; only a dead
	// process lets it run out.
	lease := 2*d.cfg.Timeout + 30*time.Second
	for {
		if free := d.cfg.Workers - inflight; free > 0 && ctx.Err() == nil {
			batch, err := d.q.ClaimDeliveries(ctx, free, d.cfg.PerSubscription, lease)
			if err != nil && ctx.Err() == nil {
				d.log.WarnContext(ctx, "webhook queue claim failed; will retry", "err", err)
			}
			for _, c := range batch {
				inflight++
				go func() {
					defer func() { done <- struct{}{} }()
					d.attempt(ctx, c)
				}()
			}
			if len(batch) == free {
				continue // maybe more are due; claim again when a worker frees up
			}
		}
		if ctx.Err() != nil && inflight == 0 {
			return
		}
		select {
		case <-done:
			inflight-- // and claim again: the subscription's next delivery may wait on it
		case <-d.wake:
		case <-t.C:
		case <-ctx.Done():
			if inflight == 0 {
				return
			}
			<-done
			inflight--
		}
	}
}

// attempt sends one delivery and records how it went.
func (d *Dispatcher) attempt(ctx context.Context, c Claimed) {
	log := d.log.With("delivery_id", c.ID, "subscription_id", c.SubscriptionID, "attempt", c.Attempts)
	start := d.now()
	status, err := d.send(ctx, c)
	latency := d.now().Sub(start)
	// Recording must outlive a shutdown that cut the attempt short.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ctx.Err() != nil && status == 0 {
		if err := d.q.ReleaseDelivery(rctx, c.ID); err != nil {
			log.WarnContext(rctx, "webhook claim release failed; it expires", "err", err)
		}
		return
	}
	o := d.outcome(c.Attempts, status, err, latency)
	if err := d.q.FinishDelivery(rctx, c.ID, o); err != nil {
		log.WarnContext(rctx, "webhook delivery outcome not recorded; the claim expires and it is sent again", "err", err)
		return
	}
	attempts.WithLabelValues(attemptOutcome(o)).Inc()
	attemptSeconds.Observe(latency.Seconds())
	switch o.Status {
	case StatusDelivered:
		deliverySeconds.Observe(d.now().Sub(c.QueuedAt).Seconds())
		log.DebugContext(ctx, "webhook delivered", "http_status", status, "latency_ms", latency.Milliseconds())
	case StatusFailed:
		log.WarnContext(ctx, "webhook delivery failed for good; redrive it from the delivery log",
			"http_status", status, "err", o.Err)
	default:
		log.InfoContext(ctx, "webhook attempt failed; will retry", "http_status", status, "err", o.Err, "next", o.Next)
	}
}

// outcome applies the retry schedule: 2xx is delivered, anything else is
// retried until the schedule runs out.
func (d *Dispatcher) outcome(attempts, status int, err error, latency time.Duration) Outcome {
	o := Outcome{HTTPStatus: status, Latency: latency}
	switch {
	case err != nil:
		o.Err = err.Error()
	case status >= 200 && status < 300:
		o.Status = StatusDelivered
		return o
	default:
		o.Err = "HTTP " + strconv.Itoa(status)
	}
	if attempts > len(d.cfg.Schedule) {
		o.Status = StatusFailed
		return o
	}
	o.Status, o.Next = StatusPending, d.now().Add(d.cfg.Schedule[max(attempts-1, 0)])
	return o
}

// send makes one signed POST; the status is 0 when no answer came.
func (d *Dispatcher) send(ctx context.Context, c Claimed) (int, error) {
	ts := d.now().Unix()
	sig, err := Sign(c.Secret, c.ID, ts, c.Body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Body))
	if err != nil {
		return 0, errors.New("the URL is not valid")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "IntelliDox-Webhooks/1")
	req.Header.Set("webhook-id", c.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, attemptError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	return resp.StatusCode, nil
}

// attemptError is what the delivery log says about a failed request:
// the reason, without internals the subscription's owner should not see.
func attemptError(err error) error {
	var forbidden *ForbiddenError
	switch {
	case errors.As(err, &forbidden):
		return errors.New("refused: " + forbidden.Reason)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return errors.New("timeout: no answer in time")
	case strings.Contains(err.Error(), "too many redirects"):
		return errors.New("too many redirects")
	case strings.Contains(err.Error(), "connection refused"):
		return errors.New("connection refused")
	}
	return errors.New("connection failed")
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
