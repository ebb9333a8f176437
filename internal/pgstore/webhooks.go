package pgstore

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intellidox/intellidox/internal/webhooks"
)

// Webhook subscriptions and their delivery queue (migration 009); the rules
// live in internal/webhooks.

const selectWebhook = `SELECT id, url, events, description, created_at FROM webhook_subscriptions`

func scanWebhook(row pgx.CollectableRow) (webhooks.Subscription, error) {
	var s webhooks.Subscription
	err := row.Scan(&s.ID, &s.URL, &s.Events, &s.Description, &s.CreatedAt)
	return s, err
}

// CountWebhooks implements webhooks.Store.
func (s *Store) CountWebhooks(ctx context.Context, tenant string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_subscriptions WHERE tenant = $1`, tenant).Scan(&n)
	return n, classify("count webhooks", err)
}

// CreateWebhook implements webhooks.Store. A transaction-scoped advisory
// lock per tenant keeps concurrent creations from passing the limit.
func (s *Store) CreateWebhook(ctx context.Context, tenant string, w webhooks.Subscription, max int) error {
	return s.withTx(ctx, "create webhook", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('webhooks:' || $1))`, tenant); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_subscriptions WHERE tenant = $1`, tenant).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return webhooks.ErrLimit
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhook_subscriptions (id, tenant, url, events, description, secret, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, w.ID, tenant, w.URL, w.Events, w.Description, w.Secret, w.CreatedAt)
		return err
	})
}

// Webhooks implements webhooks.Store.
func (s *Store) Webhooks(ctx context.Context, tenant string) ([]webhooks.Subscription, error) {
	rows, err := s.pool.Query(ctx, selectWebhook+` WHERE tenant = $1 ORDER BY created_at, id`, tenant)
	if err != nil {
		return nil, classify("list webhooks", err)
	}
	out, err := pgx.CollectRows(rows, scanWebhook)
	if out == nil {
		out = []webhooks.Subscription{}
	}
	return out, classify("list webhooks", err)
}

// Webhook implements webhooks.Store.
func (s *Store) Webhook(ctx context.Context, tenant, id string) (webhooks.Subscription, error) {
	rows, err := s.pool.Query(ctx, selectWebhook+` WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return webhooks.Subscription{}, classify("get webhook", err)
	}
	w, err := pgx.CollectExactlyOneRow(rows, scanWebhook)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, webhooks.ErrNotFound
	}
	return w, classify("get webhook", err)
}

// DeleteWebhook implements webhooks.Store; its deliveries go with it.
func (s *Store) DeleteWebhook(ctx context.Context, tenant, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_subscriptions WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return classify("delete webhook", err)
	}
	if tag.RowsAffected() == 0 {
		return webhooks.ErrNotFound
	}
	return nil
}

// WebhookDeliveries implements webhooks.Store.
func (s *Store) WebhookDeliveries(ctx context.Context, tenant, id string, limit int) ([]webhooks.Delivery, error) {
	var out []webhooks.Delivery
	err := s.withTx(ctx, "webhook deliveries", func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE tenant = $1 AND id = $2)`,
			tenant, id).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return webhooks.ErrNotFound
		}
		rows, err := tx.Query(ctx, `
SELECT id, subscription_id, event_type, file_id, version, status, attempts, last_status, last_error, last_latency_ms,
       CASE WHEN status = 'pending' THEN next_attempt_at END, created_at, updated_at, delivered_at
FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY created_at DESC, id LIMIT $2`, id, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (webhooks.Delivery, error) {
			var d webhooks.Delivery
			err := row.Scan(&d.ID, &d.SubscriptionID, &d.EventType, &d.FileID, &d.Version, &d.Status, &d.Attempts,
				&d.LastStatus, &d.LastError, &d.LatencyMs, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt, &d.DeliveredAt)
			return d, err
		})
		return err
	})
	if err != nil && !errors.Is(err, webhooks.ErrNotFound) {
		return nil, err
	}
	if out == nil && err == nil {
		out = []webhooks.Delivery{}
	}
	return out, err
}

// RedriveDelivery implements webhooks.Store.
func (s *Store) RedriveDelivery(ctx context.Context, tenant, id, deliveryID string) error {
	return s.withTx(ctx, "redrive webhook delivery", func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT d.status FROM webhook_deliveries d JOIN webhook_subscriptions w ON w.id = d.subscription_id
			WHERE w.tenant = $1 AND w.id = $2 AND d.id = $3 FOR UPDATE OF d`, tenant, id, deliveryID).Scan(&status)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return webhooks.ErrDeliveryNotFound
		case err != nil:
			return err
		case status != webhooks.StatusFailed:
			return webhooks.ErrNotFailed
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(),
			claimed_until = NULL, queued_at = now(), updated_at = now() WHERE id = $1`, deliveryID)
		return err
	})
}

// enqueueDeliveries adds one delivery per interested subscription; the
// unique key makes a redelivered event a no-op.
const enqueueDeliveries = `
INSERT INTO webhook_deliveries (id, subscription_id, event_type, file_id, version, body)
SELECT gen_random_uuid()::text, id, $2, $3, $4, $5 FROM webhook_subscriptions
WHERE tenant = $1 AND $2 = ANY (events)
ON CONFLICT (subscription_id, event_type, file_id, version) DO NOTHING`

// EnqueueDeliveries implements webhooks.Store.
func (s *Store) EnqueueDeliveries(ctx context.Context, tenant, eventType, fileID string, version int64, body []byte) (int, error) {
	tag, err := s.pool.Exec(ctx, enqueueDeliveries, tenant, eventType, fileID, version, string(body))
	if err != nil {
		return 0, classify("enqueue webhook deliveries", err)
	}
	return int(tag.RowsAffected()), nil
}

// claimDeliveries takes due rows, at most $2 in flight per subscription:
// those already in flight count against it, and the row_number keeps one
// claim from taking more. The outer conditions are checked again on the
// locked row, so two dispatchers never hold one row.
const claimDeliveries = `
WITH busy AS (
    SELECT subscription_id, count(*) AS n FROM webhook_deliveries
    WHERE status = 'pending' AND claimed_until > now()
    GROUP BY subscription_id
), due AS (
    SELECT d.id, row_number() OVER (PARTITION BY d.subscription_id ORDER BY d.next_attempt_at, d.id) AS rn,
           coalesce(b.n, 0) AS busy
    FROM webhook_deliveries d LEFT JOIN busy b USING (subscription_id)
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (d.claimed_until IS NULL OR d.claimed_until <= now())
), picked AS (
    SELECT d.id FROM webhook_deliveries d JOIN due USING (id)
    WHERE due.rn + due.busy <= $2
      AND d.status = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until <= now())
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET claimed_until = now() + $3::interval, attempts = d.attempts + 1, updated_at = now()
FROM picked, webhook_subscriptions w
WHERE d.id = picked.id AND w.id = d.subscription_id
RETURNING d.id, d.subscription_id, w.url, w.secret, d.body, d.attempts, d.queued_at`

// ClaimDeliveries implements webhooks.Queue.
func (s *Store) ClaimDeliveries(ctx context.Context, limit, perSubscription int, lease time.Duration) ([]webhooks.Claimed, error) {
	rows, err := s.pool.Query(ctx, claimDeliveries, limit, perSubscription, lease.String())
	if err != nil {
		return nil, classify("claim webhook deliveries", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (webhooks.Claimed, error) {
		var c webhooks.Claimed
		var body string
		err := row.Scan(&c.ID, &c.SubscriptionID, &c.URL, &c.Secret, &body, &c.Attempts, &c.QueuedAt)
		c.Body = []byte(body)
		return c, err
	})
	return out, classify("claim webhook deliveries", err)
}

// FinishDelivery implements webhooks.Queue.
func (s *Store) FinishDelivery(ctx context.Context, id string, o webhooks.Outcome) error {
	var status *int
	if o.HTTPStatus != 0 {
		status = &o.HTTPStatus
	}
	next := o.Next
	if next.IsZero() {
		next = time.Now()
	}
	_, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, claimed_until = NULL,
		last_status = $4, last_error = $5, last_latency_ms = $6, updated_at = now(),
		delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
		WHERE id = $1`, id, o.Status, next, status, o.Err, o.Latency.Milliseconds())
	return classify("finish webhook delivery", err)
}

// ReleaseDelivery implements webhooks.Queue.
func (s *Store) ReleaseDelivery(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET claimed_until = NULL, attempts = greatest(attempts - 1, 0)
		WHERE id = $1 AND status = 'pending'`, id)
	return classify("release webhook delivery", err)
}

// Migrations returns the migration files, for tests in other packages that
// clone a migrated template database (testenv.Database).
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrations, "migrations")
	return sub
}
