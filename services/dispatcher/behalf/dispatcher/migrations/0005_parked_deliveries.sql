-- Deliveries to an endpoint that is failing here (breaker open, or requests hanging) are parked
-- compactly: one row per consumer batch and endpoint instead of one per delivery. A delivery
-- row costs heap, WAL and five index entries, and a failing endpoint's rows must be durable
-- before the batch's offsets commit, so every healthy endpoint paid for them. Reclaim expands
-- such a record into delivery rows (the same ids) once the endpoint is no longer failing there.
CREATE TABLE parked_deliveries (
    park_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL,
    endpoint_id text NOT NULL,
    size integer NOT NULL,
    delivery_ids text[] NOT NULL,
    webhook_ids text[] NOT NULL,
    event_ids text[] NOT NULL,
    event_types text[] NOT NULL,
    payloads bytea[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- A record's payloads are one value of a few hundred kB, alike from event to event: lz4 packs
-- them several times smaller for less CPU than writing them out whole.
ALTER TABLE parked_deliveries ALTER COLUMN payloads SET COMPRESSION lz4;
CREATE INDEX parked_deliveries_tenant ON parked_deliveries (tenant_id, endpoint_id);

-- What ListDeliveries and GetDelivery read: every delivery row, and every parked delivery as the
-- pending delivery it will become (no payload: the API never returns it).
CREATE VIEW listed_deliveries AS
    SELECT delivery_id, tenant_id, endpoint_id, event_id, event_type, webhook_id, state,
           attempt_count, cycle_start, next_attempt_at, last_status_code, last_error,
           created_at, updated_at
    FROM deliveries
    UNION ALL
    SELECT u.delivery_id, p.tenant_id, p.endpoint_id, u.event_id, u.event_type, u.webhook_id,
           'pending', 0, 0, NULL::timestamptz, 0, 'parked while the endpoint fails',
           p.created_at, p.created_at
    FROM parked_deliveries p
    CROSS JOIN LATERAL unnest(p.delivery_ids, p.webhook_ids, p.event_ids, p.event_types)
        AS u(delivery_id, webhook_id, event_id, event_type);
