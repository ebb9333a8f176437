-- The decoded views the extractor stored beside the content (EXTRACT_VIEWS),
-- so that rescans hand them to the engines that opt in, as the first scan did.
ALTER TABLE blobs ADD COLUMN views jsonb;

---- create above / drop below ----

ALTER TABLE blobs DROP COLUMN views;
