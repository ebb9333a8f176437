// Package webhooks delivers verdict events to per-tenant HTTP subscriptions,
// signed the Standard Webhooks way, at least once, from a PostgreSQL queue.
package webhooks

import "time"

// Event types a subscription can ask for.
const (
	EventFileCompleted  = "file.completed"
	EventFileRejected   = "file.rejected"
	EventVerdictChanged = "file.verdict_changed"
)

// Event is one thing that happened to a tenant's file, as the api learns it
// from pub/sub. Enqueue turns it into one delivery per interested subscription.
type Event struct {
	Type       string
	Tenant     string
	FileID     string
	SHA256     string
	Status     string // done | rejected
	Verdict    string
	Previous   string // previous verdict, file.verdict_changed only
	Version    int64  // verdict version of the content: grows with every verdict it gets
	ScannedAt  time.Time
	Signatures []string
}
