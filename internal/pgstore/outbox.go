package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intellidox/intellidox/internal/contract"
	"github.com/intellidox/intellidox/internal/trace"
)

const insertOutbox = `INSERT INTO outbox (topic, payload, traceparent) VALUES ($1, $2, $3) RETURNING id`

// enqueue writes an event to the outbox inside tx and returns its row id.
func enqueue(ctx context.Context, tx querier, topic string, v any) (int64, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", topic, err)
	}
	var id int64
	err = tx.QueryRow(ctx, insertOutbox, topic, payload, trace.From(ctx)).Scan(&id)
	return id, err
}

// Publisher sends one event to the pub/sub.
type Publisher interface {
	Publish(ctx context.Context, topic string, v any) error
}

// Outbox relays queued events to the pub/sub. Delivery is at-least-once: a
// row is deleted only after it was published, so a crash in between
// publishes it again, and consumers are idempotent.
type Outbox struct {
	pool *pgxpool.Pool
	pub  Publisher
	log  *slog.Logger
	// Local, if set, sees each row just before it is published, on the
	// replica that relays it: the api's own event streams learn of a
	// finished file without a pub/sub round trip (live.Hub.Relayed).
	// A row published again after a failure is seen again.
	Local func(topic string, payload []byte)
}

// NewOutbox returns a relay.
func NewOutbox(pool *pgxpool.Pool, pub Publisher, log *slog.Logger) *Outbox {
	return &Outbox{pool: pool, pub: pub, log: log}
}

type outboxRow struct {
	ID          int64
	Topic       string
	Payload     json.RawMessage
	TraceParent string
}

// Relay publishes the given rows now, right after the transaction that wrote
// them committed. Failures are logged and left for Run.
func (o *Outbox) Relay(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	rows, err := o.pool.Query(ctx, `SELECT id, topic, payload, traceparent FROM outbox WHERE id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		o.log.WarnContext(ctx, "outbox read failed; background relay will retry", "err", err)
		return
	}
	batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
	if err != nil {
		o.log.WarnContext(ctx, "outbox read failed; background relay will retry", "err", err)
		return
	}
	o.publish(ctx, batch)
}

// claim takes rows that the immediate relay did not publish. Claims expire,
// so a replica that dies mid-batch does not strand rows; SKIP LOCKED keeps
// replicas from waiting on each other.
const claim = `
UPDATE outbox SET claimed_until = now() + interval '30 seconds'
WHERE id IN (
    SELECT id FROM outbox
    WHERE created_at < now() - $1::interval AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY id LIMIT 200
    FOR UPDATE SKIP LOCKED)
RETURNING id, topic, payload, traceparent`

// Run relays leftover rows every interval until ctx ends. Rows younger than
// grace are left to the immediate relay.
func (o *Outbox) Run(ctx context.Context, interval, grace time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil {
			rows, err := o.pool.Query(ctx, claim, grace.String())
			if err != nil {
				o.log.WarnContext(ctx, "outbox claim failed", "err", err)
				break
			}
			batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
			if err != nil {
				o.log.WarnContext(ctx, "outbox claim failed", "err", err)
				break
			}
			if len(batch) == 0 || o.publish(ctx, batch) < len(batch) {
				break
			}
		}
	}
}

// publish sends rows in order and deletes those sent. It stops at the first
// failure so that events for one file keep their order.
func (o *Outbox) publish(ctx context.Context, batch []outboxRow) int {
	var done []int64
	for _, r := range batch {
		// The row's id is the event's: a row published again after a failed
		// delete is the same event, not a second one.
		ectx := contract.WithEventID(trace.With(ctx, r.TraceParent), fmt.Sprintf("outbox-%d", r.ID))
		if o.Local != nil {
			o.Local(r.Topic, r.Payload)
		}
		if err := o.pub.Publish(ectx, r.Topic, r.Payload); err != nil {
			o.log.WarnContext(ctx, "publish failed; will retry", "topic", r.Topic, "outbox_id", r.ID, "err", err)
			break
		}
		done = append(done, r.ID)
	}
	if len(done) > 0 {
		if _, err := o.pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, done); err != nil {
			o.log.WarnContext(ctx, "outbox delete failed; rows will be published again", "err", err)
		}
	}
	return len(done)
}
