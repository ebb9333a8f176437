-- Lookup by any hash (GET /v1/files?sha1=… or md5=…).
CREATE INDEX blobs_sha1 ON blobs (sha1) WHERE sha1 IS NOT NULL;
CREATE INDEX blobs_md5 ON blobs (md5) WHERE md5 IS NOT NULL;

-- Findings of the extractor (limits tripped, zip bombs, type mismatches).
ALTER TABLE blobs ADD COLUMN findings jsonb NOT NULL DEFAULT '[]';

---- create above / drop below ----

ALTER TABLE blobs DROP COLUMN findings;
DROP INDEX blobs_md5;
DROP INDEX blobs_sha1;
