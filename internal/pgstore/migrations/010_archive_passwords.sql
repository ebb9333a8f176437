-- Archive passwords (docs/security.md, "Archive passwords"). Lists are
-- stored sealed (AES-256-GCM under the key in the Dapr secret store): the
-- database never holds a password in clear.
--
-- A tenant's list, replaced as a whole; write-only through the api.
CREATE TABLE archive_password_lists (
    tenant      text PRIMARY KEY,
    sealed      text NOT NULL,
    count       integer NOT NULL,
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- An upload's own list, given when it was created.
ALTER TABLE uploads ADD COLUMN archive_passwords text;
-- The sealed lists the content was scanned with (its carrier upload's, and
-- lists later uploads brought), so that rescans try them again.
ALTER TABLE blobs ADD COLUMN archive_passwords jsonb;

---- create above / drop below ----

ALTER TABLE blobs DROP COLUMN archive_passwords;
ALTER TABLE uploads DROP COLUMN archive_passwords;
DROP TABLE archive_password_lists;
