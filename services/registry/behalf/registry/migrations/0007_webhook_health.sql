-- How each dispatcher's delivery attempts to an endpoint went lately (ReportWebhookHealth).
-- One row per (endpoint, dispatcher), replaced by each report; reads sum the fresh rows.
CREATE TABLE webhook_endpoint_health (
    endpoint_id text NOT NULL REFERENCES webhook_endpoints (endpoint_id),
    dispatcher_id text NOT NULL,
    attempts bigint NOT NULL CHECK (attempts >= 0),
    successes bigint NOT NULL CHECK (successes >= 0 AND successes <= attempts),
    last_error text NOT NULL DEFAULT '',
    last_error_status_code integer NOT NULL DEFAULT 0,
    last_error_at timestamptz,
    last_success_at timestamptz,
    -- BreakerState's number: 1 closed, 2 half-open, 3 open (the larger, the more restrictive).
    breaker_state smallint NOT NULL CHECK (breaker_state BETWEEN 1 AND 3),
    window_seconds integer NOT NULL CHECK (window_seconds > 0),
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint_id, dispatcher_id)
);
CREATE INDEX webhook_endpoint_health_reported ON webhook_endpoint_health (reported_at);
