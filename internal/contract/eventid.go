package contract

import "context"

type eventIDKey struct{}

// WithEventID names the CloudEvent id of the event published with ctx.
// Delivery is at least once: a publisher that sends the same event again
// (the outbox after a failed delete) gives it the same id, so that
// consumers and tests can tell a redelivery from a second event.
func WithEventID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, eventIDKey{}, id)
}

// EventID is the id WithEventID set, or "" (the pub/sub then makes one).
func EventID(ctx context.Context) string {
	id, _ := ctx.Value(eventIDKey{}).(string)
	return id
}
