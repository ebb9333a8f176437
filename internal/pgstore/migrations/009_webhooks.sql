-- Webhook subscriptions (per tenant) and their deliveries. Deliveries are
-- the queue: the dispatcher claims due rows with SKIP LOCKED and a lease,
-- so retries survive restarts and replicas do not send one row twice.
CREATE TABLE webhook_subscriptions (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    url         text NOT NULL,
    events      text[] NOT NULL,
    description text NOT NULL DEFAULT '',
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant, created_at);

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,  -- the webhook-id header: the same on every attempt
    subscription_id text NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    file_id         text NOT NULL,
    version         bigint NOT NULL,
    body            text NOT NULL,     -- exactly the bytes signed and sent
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    last_status     integer,
    last_error      text NOT NULL DEFAULT '',
    last_latency_ms integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    queued_at       timestamptz NOT NULL DEFAULT now(), -- created, or last redriven
    updated_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    -- pub/sub redelivers: the same event for the same subscription is one delivery.
    UNIQUE (subscription_id, event_type, file_id, version)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, created_at DESC);

---- create above / drop below ----

DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
