package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/intellidox/intellidox/internal/problem"
)

// Limits on what a subscription may hold.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 256
	// DefaultMaxSubscriptions bounds a tenant's subscriptions unless
	// configured otherwise (WEBHOOK_MAX_SUBSCRIPTIONS).
	DefaultMaxSubscriptions = 20
	// deliveryLogLimit bounds one delivery log page.
	deliveryLogLimit = 100
)

// EventTypes lists the events a subscription can ask for.
var EventTypes = []string{EventFileCompleted, EventFileRejected, EventVerdictChanged}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// CreateRequest is the body of POST /v1/webhooks.
type CreateRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

// Subscription is a tenant's webhook endpoint. Secret is set only in the
// answer that created it.
type Subscription struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	Secret      string    `json:"secret,omitempty"`
}

// Delivery is one event for one subscription, and how sending it went.
type Delivery struct {
	ID             string     `json:"id"`
	SubscriptionID string     `json:"subscriptionId"`
	EventType      string     `json:"eventType"`
	FileID         string     `json:"fileId"`
	Version        int64      `json:"version"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatus     *int       `json:"lastStatus"`
	LastError      string     `json:"lastError"`
	LatencyMs      *int       `json:"latencyMs"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	DeliveredAt    *time.Time `json:"deliveredAt"`
}

// Errors clients see.
var (
	ErrNotFound         = problem.New(problem.NotFound, "not_found", "No webhook with this id exists.")
	ErrDeliveryNotFound = problem.New(problem.NotFound, "not_found", "No delivery with this id exists for this webhook.")
	ErrNotFailed        = problem.New(problem.Conflict, "delivery_not_failed", "Only a failed delivery can be redriven.")
	ErrLimit            = problem.New(problem.Conflict, "webhook_limit_reached", "This tenant has as many webhooks as allowed; delete one first.")
)

// Store keeps subscriptions and deliveries (internal/pgstore implements
// it). Every tenant-scoped method answers ErrNotFound for another
// tenant's ids, exactly as for unknown ones.
type Store interface {
	CountWebhooks(ctx context.Context, tenant string) (int, error)
	// CreateWebhook stores s with its secret unless the tenant already has
	// max subscriptions (ErrLimit).
	CreateWebhook(ctx context.Context, tenant string, s Subscription, max int) error
	Webhooks(ctx context.Context, tenant string) ([]Subscription, error)
	Webhook(ctx context.Context, tenant, id string) (Subscription, error)
	DeleteWebhook(ctx context.Context, tenant, id string) error
	WebhookDeliveries(ctx context.Context, tenant, id string, limit int) ([]Delivery, error)
	// RedriveDelivery makes a failed delivery pending again, due now
	// (ErrDeliveryNotFound, ErrNotFailed).
	RedriveDelivery(ctx context.Context, tenant, id, deliveryID string) error
	// EnqueueDeliveries adds one pending delivery carrying body for each
	// subscription of tenant that asked for eventType, unless it already
	// has this (type, file, version). It returns how many it added.
	EnqueueDeliveries(ctx context.Context, tenant, eventType, fileID string, version int64, body []byte) (int, error)
	Queue
}

// Service manages subscriptions and turns events into deliveries.
type Service struct {
	store  Store
	guard  *Guard
	max    int
	wake   func()
	now    func() time.Time
	newID  func() string
	secret func() string
}

// NewService returns a Service. max bounds each tenant's subscriptions
// (0: DefaultMaxSubscriptions); wake, if not nil, is called after new
// deliveries are queued (Dispatcher.Wake).
func NewService(store Store, guard *Guard, max int, wake func()) *Service {
	if max <= 0 {
		max = DefaultMaxSubscriptions
	}
	return &Service{store: store, guard: guard, max: max, wake: wake, now: time.Now,
		newID: uuid.NewString, secret: NewSecret}
}

// Create validates and stores a subscription and returns it with its
// secret, which is never shown again.
func (s *Service) Create(ctx context.Context, tenant string, req CreateRequest) (Subscription, error) {
	if err := validate(&req); err != nil {
		return Subscription{}, err
	}
	// The limit first: it needs the database, the URL check needs DNS.
	n, err := s.store.CountWebhooks(ctx, tenant)
	if err != nil {
		return Subscription{}, err
	}
	if n >= s.max {
		return Subscription{}, ErrLimit
	}
	u, err := s.guard.CheckURL(ctx, req.URL)
	var forbidden *ForbiddenError
	var unresolvable *UnresolvableError
	switch {
	case errors.As(err, &forbidden):
		return Subscription{}, &problem.Error{Kind: problem.Unprocessable, Code: "webhook_url_forbidden", Field: "url",
			Detail: "This URL may not receive webhooks: " + forbidden.Reason + ".", Err: err}
	case errors.As(err, &unresolvable):
		return Subscription{}, &problem.Error{Kind: problem.Unprocessable, Code: "webhook_url_unresolvable", Field: "url",
			Detail: "The URL's host name does not resolve.", Err: err}
	case err != nil:
		return Subscription{}, err
	}
	sub := Subscription{ID: s.newID(), URL: u.String(), Events: req.Events, Description: req.Description,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond), Secret: s.secret()}
	if err := s.store.CreateWebhook(ctx, tenant, sub, s.max); err != nil {
		return Subscription{}, err
	}
	return sub, nil
}

func validate(req *CreateRequest) error {
	req.URL = strings.TrimSpace(req.URL)
	switch {
	case req.URL == "":
		return problem.Field("invalid_url", "url", "url is required.")
	case len(req.URL) > MaxURLLength:
		return problem.Field("invalid_url", "url", fmt.Sprintf("url is longer than %d bytes.", MaxURLLength))
	case !utf8.ValidString(req.URL) || strings.IndexFunc(req.URL, unicode.IsControl) >= 0:
		return problem.Field("invalid_url", "url", "url holds control characters.")
	}
	if s, _, ok := strings.Cut(req.URL, "://"); !ok || (!strings.EqualFold(s, "http") && !strings.EqualFold(s, "https")) {
		return problem.Field("invalid_url", "url", "url must be an absolute http or https URL.")
	}
	if len(req.Events) == 0 {
		return problem.Field("invalid_events", "events", "events must name at least one of "+strings.Join(EventTypes, ", ")+".")
	}
	seen := map[string]bool{}
	for _, e := range req.Events {
		if !slices.Contains(EventTypes, e) {
			return problem.Field("invalid_events", "events", fmt.Sprintf("Unknown event %.64q; known: %s.", e, strings.Join(EventTypes, ", ")))
		}
		seen[e] = true
	}
	req.Events = req.Events[:0]
	for _, e := range EventTypes { // deduplicated, in a stable order
		if seen[e] {
			req.Events = append(req.Events, e)
		}
	}
	if len(req.Description) > MaxDescriptionLength || !utf8.ValidString(req.Description) ||
		strings.IndexFunc(req.Description, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return problem.Field("invalid_description", "description",
			fmt.Sprintf("description must be at most %d bytes of text without control characters.", MaxDescriptionLength))
	}
	return nil
}

// List returns the tenant's subscriptions, oldest first, without secrets.
func (s *Service) List(ctx context.Context, tenant string) ([]Subscription, error) {
	return s.store.Webhooks(ctx, tenant)
}

// Get returns one subscription, without its secret.
func (s *Service) Get(ctx context.Context, tenant, id string) (Subscription, error) {
	return s.store.Webhook(ctx, tenant, id)
}

// Delete removes a subscription and its deliveries, pending ones included.
func (s *Service) Delete(ctx context.Context, tenant, id string) error {
	return s.store.DeleteWebhook(ctx, tenant, id)
}

// Deliveries returns a subscription's latest deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, tenant, id string) ([]Delivery, error) {
	return s.store.WebhookDeliveries(ctx, tenant, id, deliveryLogLimit)
}

// Redrive queues a failed (dead-lettered) delivery again, due now, with a
// fresh retry schedule and the same webhook-id.
func (s *Service) Redrive(ctx context.Context, tenant, id, deliveryID string) error {
	if err := s.store.RedriveDelivery(ctx, tenant, id, deliveryID); err != nil {
		return err
	}
	s.kick()
	return nil
}

// Enqueue records one delivery per active subscription of ev.Tenant that
// asked for ev.Type. Idempotent: the same (subscription, type, file,
// version) enqueued twice (pub/sub redelivery) is one delivery.
func (s *Service) Enqueue(ctx context.Context, ev Event) error {
	if !slices.Contains(EventTypes, ev.Type) || ev.Tenant == "" || ev.FileID == "" {
		return fmt.Errorf("webhooks: enqueue: invalid event %q for file %q of tenant %q", ev.Type, ev.FileID, ev.Tenant)
	}
	body, err := json.Marshal(NewPayload(ev, s.now()))
	if err != nil {
		return fmt.Errorf("webhooks: encode %s: %w", ev.Type, err)
	}
	n, err := s.store.EnqueueDeliveries(ctx, ev.Tenant, ev.Type, ev.FileID, ev.Version, body)
	if err != nil {
		return fmt.Errorf("webhooks: enqueue %s for %s: %w", ev.Type, ev.FileID, err)
	}
	if n > 0 {
		s.kick()
	}
	return nil
}

func (s *Service) kick() {
	if s.wake != nil {
		s.wake()
	}
}
