-- Tenants, keys and the policy: agents, permissions, approvals, webhook endpoints.

CREATE TABLE tenants (
    tenant_id text PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (tenant_id),
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'verify', 'audit_read')),
    display_prefix text NOT NULL,
    secret_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE agents (
    agent_id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (tenant_id),
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('native', 'external')),
    description text NOT NULL DEFAULT '',
    labels jsonb NOT NULL DEFAULT '{}'::jsonb,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    revision bigint NOT NULL
);
CREATE INDEX agents_tenant ON agents (tenant_id, created_at, agent_id) WHERE deleted_at IS NULL;

CREATE TABLE permissions (
    permission_id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (tenant_id),
    agent_id text NOT NULL REFERENCES agents (agent_id),
    allowed_actions text[] NOT NULL,
    blocked_actions text[] NOT NULL DEFAULT '{}',
    resources text[] NOT NULL DEFAULT '{}',
    max_amount_minor bigint CHECK (max_amount_minor >= 0),
    max_amount_currency text,
    budget_minor bigint CHECK (budget_minor >= 0),
    budget_currency text,
    budget_spent_minor bigint NOT NULL DEFAULT 0,
    not_before timestamptz,
    expires_at timestamptz,
    requires_approval boolean NOT NULL DEFAULT false,
    revoked_at timestamptz,
    template_name text NOT NULL DEFAULT '',
    template_version integer NOT NULL DEFAULT 0,
    category text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    revision bigint NOT NULL,
    expiry_emitted boolean NOT NULL DEFAULT false,
    CHECK (budget_minor IS NULL OR budget_spent_minor <= budget_minor),
    CHECK ((max_amount_minor IS NULL) = (max_amount_currency IS NULL)),
    CHECK ((budget_minor IS NULL) = (budget_currency IS NULL))
);
CREATE INDEX permissions_agent ON permissions (tenant_id, agent_id, created_at);
CREATE INDEX permissions_expiry ON permissions (expires_at)
    WHERE NOT expiry_emitted AND revoked_at IS NULL AND expires_at IS NOT NULL;

-- One row per Verify request that reserved budget; the primary key makes reserving idempotent.
CREATE TABLE budget_reservations (
    permission_id text NOT NULL REFERENCES permissions (permission_id),
    request_id text NOT NULL,
    tenant_id text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    PRIMARY KEY (permission_id, request_id)
);

CREATE TABLE approvals (
    approval_id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (tenant_id),
    agent_id text NOT NULL,
    action text NOT NULL,
    resource text NOT NULL,
    amount_minor bigint,
    amount_currency text,
    permission_id text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'consumed')),
    request_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    resolved_at timestamptz,
    resolved_by text NOT NULL DEFAULT '',
    resolution_comment text NOT NULL DEFAULT '',
    consumed_at timestamptz,
    consumed_by_request_id text,
    UNIQUE (tenant_id, request_id)
);
CREATE INDEX approvals_tenant_state ON approvals (tenant_id, state, created_at DESC);
CREATE INDEX approvals_expiry ON approvals (expires_at) WHERE state IN ('pending', 'approved');

CREATE TABLE webhook_endpoints (
    endpoint_id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (tenant_id),
    url text NOT NULL,
    event_types text[] NOT NULL DEFAULT '{}',
    description text NOT NULL DEFAULT '',
    disabled boolean NOT NULL DEFAULT false,
    -- AES-GCM under the master key: 12-byte nonce || ciphertext || tag.
    secret_ciphertext bytea NOT NULL,
    previous_secret_ciphertext bytea,
    previous_secret_expires_at timestamptz,
    secret_rotated_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at)
    WHERE deleted_at IS NULL;

-- Create calls carrying an idempotency key: the same key and body return the first response.
CREATE TABLE idempotency_keys (
    tenant_id text NOT NULL,
    operation text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash bytea NOT NULL,
    response bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, operation, idempotency_key)
);

-- Every committed change, in commit order (seq is taken under the policy_revision row lock).
-- `payload` is a serialized behalf.v1.LifecycleEvent. The relay publishes rows in seq order;
-- the watch stream reads agent and permission rows as deltas.
CREATE TABLE outbox (
    seq bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    tenant_id text NOT NULL,
    event_type text NOT NULL,
    revision bigint NOT NULL,
    payload bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_revision ON outbox (revision);

-- The audit trail, filled from the decisions topic; idempotent on event_id.
CREATE TABLE decisions (
    event_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    request_id text NOT NULL,
    agent_id text NOT NULL,
    outcome text NOT NULL,
    reason_code text NOT NULL,
    decided_at timestamptz NOT NULL,
    payload bytea NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_tenant_time ON decisions (tenant_id, decided_at DESC, event_id DESC);
CREATE INDEX decisions_tenant_agent_time ON decisions (tenant_id, agent_id, decided_at DESC);
CREATE INDEX decisions_tenant_request ON decisions (tenant_id, request_id);
