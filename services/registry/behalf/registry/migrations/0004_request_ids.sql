-- A request id names one request. The first stateful step of a Verify (budget, approval) claims
-- its id with a digest of what the request was; the same id with another digest is refused.
CREATE TABLE request_ids (
    tenant_id text NOT NULL,
    request_id text NOT NULL,
    digest bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, request_id)
);

-- Keys minted for manual test links: test-mode decisions only, and only about one agent.
ALTER TABLE api_keys
    ADD COLUMN test_mode_only boolean NOT NULL DEFAULT false,
    ADD COLUMN agent_id text,
    ADD CHECK (NOT test_mode_only OR role = 'verify');

-- The key that resolved an approval, recorded from the caller's credential.
ALTER TABLE approvals ADD COLUMN resolved_by_key_id text NOT NULL DEFAULT '';

-- A tenant's latest revision (GetTenant, ListVerifiers) without counting other tenants' changes.
CREATE INDEX outbox_tenant_revision ON outbox (tenant_id, revision);
