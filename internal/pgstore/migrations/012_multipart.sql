-- Uploads sent in parts (S3 multipart uploads): the multipart upload's id
-- while the upload awaits its parts, the size of every part but the last,
-- and each part's SHA-256 in order, to which the part URLs are bound.
ALTER TABLE uploads ADD COLUMN multipart_id text, ADD COLUMN part_size bigint, ADD COLUMN part_sha256 text[];
CREATE INDEX uploads_multipart_expiry ON uploads (expires_at) WHERE multipart_id IS NOT NULL AND status = 'awaiting_upload';

---- create above / drop below ----

DROP INDEX uploads_multipart_expiry;
ALTER TABLE uploads DROP COLUMN multipart_id, DROP COLUMN part_size, DROP COLUMN part_sha256;
