-- A parked delivery's delivery id and webhook id are derived from its (event, endpoint) key,
-- the same whenever it is listed, unparked or parked again, instead of drawn and stored: the
-- two drawn ids cost each failing endpoint two array elements per event in the batch's INSERT,
-- on both sides, and with them the events are sent once however many endpoints fail.
CREATE FUNCTION parked_delivery_id(prefix text, event_id text, endpoint_id text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT prefix || '_' || left(encode(sha256(
            convert_to(prefix || '/' || event_id || '/' || endpoint_id, 'UTF8')), 'hex'), 20) $$;

-- Records parked under 0005 carry their own ids (perhaps listed already): they become pending
-- rows with those ids now, and reclaim offers them to their endpoints (one still failing parks
-- them in the retry tier).
INSERT INTO deliveries (delivery_id, tenant_id, endpoint_id, event_id, event_type, webhook_id,
    state, payload, created_at, updated_at)
SELECT u.id, p.tenant_id, p.endpoint_id, u.ev, u.et, u.wh, 'pending', u.pl, p.created_at,
       p.created_at
FROM parked_deliveries p
CROSS JOIN LATERAL unnest(p.delivery_ids, p.webhook_ids, p.event_ids, p.event_types,
                          p.payloads) AS u(id, wh, ev, et, pl)
ON CONFLICT (event_id, endpoint_id) DO NOTHING;
DELETE FROM parked_deliveries;

DROP VIEW listed_deliveries;
ALTER TABLE parked_deliveries DROP COLUMN delivery_ids, DROP COLUMN webhook_ids;

CREATE VIEW listed_deliveries AS
    SELECT delivery_id, tenant_id, endpoint_id, event_id, event_type, webhook_id, state,
           attempt_count, cycle_start, next_attempt_at, last_status_code, last_error,
           created_at, updated_at
    FROM deliveries
    UNION ALL
    SELECT parked_delivery_id('dlv', u.event_id, p.endpoint_id), p.tenant_id, p.endpoint_id,
           u.event_id, u.event_type, parked_delivery_id('msg', u.event_id, p.endpoint_id),
           'pending', 0, 0, NULL::timestamptz, 0, 'parked while the endpoint fails',
           p.created_at, p.created_at
    FROM parked_deliveries p
    CROSS JOIN LATERAL unnest(p.event_ids, p.event_types) AS u(event_id, event_type);
