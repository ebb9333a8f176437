-- Proof of possession (docs/security.md). Content counts as a tenant's own
-- only once that tenant delivered the bytes: its own upload, to its own
-- object, verified by the extractor. A hash alone proves nothing.
CREATE TABLE possessions (
    tenant     text NOT NULL,
    sha256     text NOT NULL REFERENCES blobs (sha256),
    proven_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, sha256)
);

-- The object an upload's bytes go to (each upload that needs bytes gets its
-- own), and whether file.uploaded was queued for them. NULL: the upload
-- needed no bytes (its tenant owned the content), or it predates this.
ALTER TABLE uploads ADD COLUMN object_key text UNIQUE;
ALTER TABLE uploads ADD COLUMN dispatched boolean NOT NULL DEFAULT false;
UPDATE uploads SET dispatched = true WHERE status <> 'awaiting_upload';

-- Before this, any tenant could claim verified content by its hash alone, so
-- existing uploads prove nothing by themselves. The tenant of the first
-- confirmed upload of each verified content delivered its bytes; only it is
-- taken to hold them. Other tenants' old uploads keep their verdict but no
-- longer show content-derived metadata; a new upload proves possession.
INSERT INTO possessions (tenant, sha256)
SELECT DISTINCT ON (u.sha256) u.tenant, u.sha256
FROM uploads u JOIN blobs b USING (sha256)
WHERE b.state = 'verified' AND u.confirmed_at IS NOT NULL
ORDER BY u.sha256, u.confirmed_at, u.created_at;

-- A content's row is created when bytes for it are first confirmed, not when
-- a hash is declared: creating an upload then does the same work whether or
-- not anybody holds the content.
ALTER TABLE uploads DROP CONSTRAINT uploads_sha256_fkey;

-- Empty files are files.
ALTER TABLE blobs DROP CONSTRAINT blobs_size_check;
ALTER TABLE blobs ADD CONSTRAINT blobs_size_check CHECK (size >= 0);
ALTER TABLE uploads DROP CONSTRAINT uploads_size_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_size_check CHECK (size >= 0);

---- create above / drop below ----

DELETE FROM uploads WHERE size = 0;
DELETE FROM scan_results WHERE sha256 IN (SELECT sha256 FROM blobs WHERE size = 0);
DELETE FROM verdict_history WHERE sha256 IN (SELECT sha256 FROM blobs WHERE size = 0);
DELETE FROM possessions WHERE sha256 IN (SELECT sha256 FROM blobs WHERE size = 0);
DELETE FROM blobs WHERE size = 0;
ALTER TABLE uploads DROP CONSTRAINT uploads_size_check;
ALTER TABLE uploads ADD CONSTRAINT uploads_size_check CHECK (size > 0);
ALTER TABLE blobs DROP CONSTRAINT blobs_size_check;
ALTER TABLE blobs ADD CONSTRAINT blobs_size_check CHECK (size > 0);
DELETE FROM uploads u WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = u.sha256);
ALTER TABLE uploads ADD CONSTRAINT uploads_sha256_fkey FOREIGN KEY (sha256) REFERENCES blobs (sha256);
ALTER TABLE uploads DROP COLUMN dispatched;
ALTER TABLE uploads DROP COLUMN object_key;
DROP TABLE possessions;
