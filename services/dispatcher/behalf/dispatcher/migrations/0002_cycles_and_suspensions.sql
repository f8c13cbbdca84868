-- Redrive starts a new retry cycle; dead_at lets an operator redrive "dead since".
ALTER TABLE deliveries ADD COLUMN cycle_start integer NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN dead_at timestamptz;
CREATE INDEX deliveries_tenant_created_id ON deliveries (tenant_id, created_at DESC, delivery_id DESC);
CREATE INDEX deliveries_dead ON deliveries (tenant_id, endpoint_id, dead_at) WHERE state = 'dead';

-- Endpoints that answered 410 Gone. The registry has no RPC to disable an endpoint, so the
-- dispatcher stops sending to them itself until the registry reports the endpoint changed.
CREATE TABLE endpoint_suspensions (
    tenant_id text NOT NULL,
    endpoint_id text NOT NULL,
    reason text NOT NULL,
    suspended_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, endpoint_id)
);
