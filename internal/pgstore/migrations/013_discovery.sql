-- Objects that arrive without the API (docs/storage-events.md): sweeps of
-- protected buckets, and the queue of discovered objects they and the
-- buckets' event notifications fill.
--
-- A sweep lists its prefix page by page; each page's discoveries and the
-- token of the next page are written in one transaction, so a sweep taken
-- over after a crash resumes at the first page it had not queued.
CREATE TABLE sweeps (
    id           uuid PRIMARY KEY,
    tenant       text NOT NULL,
    bucket       text NOT NULL,
    prefix       text NOT NULL DEFAULT '',
    include      text[] NOT NULL DEFAULT '{}',
    exclude      text[] NOT NULL DEFAULT '{}',
    created_by   text NOT NULL DEFAULT '',
    -- listing: pages remain; listed: every page queued; done, failed.
    status       text NOT NULL DEFAULT 'listing',
    next_token   text,
    listed       bigint NOT NULL DEFAULT 0, -- objects seen in the listing
    matched      bigint NOT NULL DEFAULT 0, -- of which the sweep and the protection rules select
    error        text,
    claimed_until timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX sweeps_tenant ON sweeps (tenant, created_at DESC);
CREATE INDEX sweeps_active ON sweeps (claimed_until) WHERE status = 'listing';

-- One row per object version (bucket, key, ETag) and tenant: discovering it
-- again, by a notification or another sweep, adds nothing. upload_id is
-- chosen when the row is queued, so an ingest retried after a crash finds
-- the upload it created.
CREATE TABLE discoveries (
    id            bigserial PRIMARY KEY,
    tenant        text NOT NULL,
    bucket        text NOT NULL,
    key           text NOT NULL,
    etag          text NOT NULL,
    size          bigint NOT NULL,
    sweep_id      uuid REFERENCES sweeps (id) ON DELETE SET NULL,
    upload_id     uuid NOT NULL,
    -- queued, running (claimed_until), done, failed.
    status        text NOT NULL DEFAULT 'queued',
    -- done: scanned (new content), known (content already judged or on its
    -- way), changed (replaced while read: queued again as its new version),
    -- gone (deleted), skipped (too large, not a file); failed: an error.
    outcome       text,
    sha256        text,
    attempts      int NOT NULL DEFAULT 0,
    error         text,
    claimed_until timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, bucket, key, etag)
);
CREATE INDEX discoveries_pending ON discoveries (id) WHERE status IN ('queued', 'running');
CREATE INDEX discoveries_sweep ON discoveries (sweep_id, status);

---- create above / drop below ----

DROP TABLE discoveries;
DROP TABLE sweeps;
