-- Which verdicts besides clean a tenant lets its users download
-- (docs/downloads.md). No row: the default, clean only. Malicious is never
-- allowed, so it has no column.
CREATE TABLE download_policies (
    tenant            text PRIMARY KEY,
    allow_suspicious  boolean NOT NULL DEFAULT false,
    allow_unscanned   boolean NOT NULL DEFAULT false,
    updated_by        text NOT NULL,
    reason            text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Every change of a download policy: who, when, why, and what it became.
CREATE TABLE download_policy_audit (
    id                bigserial PRIMARY KEY,
    tenant            text NOT NULL,
    changed_by        text NOT NULL,
    reason            text NOT NULL,
    allow_suspicious  boolean NOT NULL,
    allow_unscanned   boolean NOT NULL,
    changed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX download_policy_audit_tenant ON download_policy_audit (tenant, id DESC);

---- create above / drop below ----

DROP TABLE download_policy_audit;
DROP TABLE download_policies;
