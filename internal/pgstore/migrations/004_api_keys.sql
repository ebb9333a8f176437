-- API keys, stored only as SHA-256 hashes. Each key belongs to a tenant.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL CHECK (tenant ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
    name        text NOT NULL DEFAULT '',
    hash        text NOT NULL UNIQUE,
    admin       boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

---- create above / drop below ----

DROP TABLE api_keys;
