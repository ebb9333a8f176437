-- Content is addressed by SHA-256: one blob row (and one stored object) serves
-- every upload of the same bytes. Uploads are the per-client records.
CREATE TABLE blobs (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL CHECK (size > 0),
    object_key  text NOT NULL UNIQUE,
    -- new: no confirmed bytes yet; processing: confirmed, being extracted;
    -- verified: the extractor read the bytes and their hash matched;
    -- rejected: the stored bytes did not match.
    state       text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'processing', 'verified', 'rejected')),
    md5         text,
    sha1        text,
    mime_type   text,
    metadata    jsonb NOT NULL DEFAULT '{}',
    verdict     text NOT NULL DEFAULT 'pending',
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE uploads (
    id            uuid PRIMARY KEY,
    tenant        text NOT NULL DEFAULT 'default',
    name          text NOT NULL,
    size          bigint NOT NULL CHECK (size > 0),
    sha256        text NOT NULL REFERENCES blobs (sha256),
    content_type  text NOT NULL DEFAULT '',
    status        text NOT NULL CHECK (status IN ('awaiting_upload', 'processing', 'done', 'rejected')),
    reason        text,
    expires_at    timestamptz,
    confirmed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_sha256 ON uploads (sha256);
CREATE INDEX uploads_tenant_created ON uploads (tenant, created_at DESC);
CREATE INDEX uploads_unfinished ON uploads (updated_at) WHERE status = 'processing';

-- The latest result of each engine for each content.
CREATE TABLE scan_results (
    sha256             text NOT NULL REFERENCES blobs (sha256),
    engine             text NOT NULL,
    result             text NOT NULL,
    threats            jsonb NOT NULL DEFAULT '[]',
    engine_version     text NOT NULL DEFAULT '',
    signature_version  text NOT NULL DEFAULT '',
    scanned_at         timestamptz NOT NULL,
    duration_ms        bigint NOT NULL DEFAULT 0,
    detail             text NOT NULL DEFAULT '',
    PRIMARY KEY (sha256, engine)
);

-- Every verdict a content has had, newest last.
CREATE TABLE verdict_history (
    id          bigserial PRIMARY KEY,
    sha256      text NOT NULL REFERENCES blobs (sha256),
    verdict     text NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verdict_history_sha256 ON verdict_history (sha256, id);

-- Transactional outbox: events are written with the state change that causes
-- them and published after commit, so a crash between the two loses nothing.
CREATE TABLE outbox (
    id             bigserial PRIMARY KEY,
    topic          text NOT NULL,
    payload        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    claimed_until  timestamptz
);

---- create above / drop below ----

DROP TABLE outbox;
DROP TABLE verdict_history;
DROP TABLE scan_results;
DROP TABLE uploads;
DROP TABLE blobs;
