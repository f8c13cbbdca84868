-- Delivery state owned by the dispatcher: one row per (event, endpoint), one per attempt.
CREATE TABLE deliveries (
    delivery_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    endpoint_id text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    webhook_id text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'retrying', 'succeeded', 'dead')),
    attempt_count integer NOT NULL DEFAULT 0,
    payload bytea NOT NULL,
    next_attempt_at timestamptz,
    last_status_code integer NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX deliveries_tenant_created ON deliveries (tenant_id, created_at DESC);
CREATE INDEX deliveries_endpoint_state ON deliveries (tenant_id, endpoint_id, state);

CREATE TABLE delivery_attempts (
    delivery_id text NOT NULL REFERENCES deliveries (delivery_id),
    attempt_number integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    status_code integer NOT NULL,
    latency_ms double precision NOT NULL,
    error text NOT NULL DEFAULT '',
    response_body text NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt_number)
);
