-- An endpoint's own delivery rate limit (deliveries per second); 0: the dispatcher's default.
ALTER TABLE webhook_endpoints
    ADD COLUMN rate_limit_per_second double precision NOT NULL DEFAULT 0
        CHECK (rate_limit_per_second >= 0 AND rate_limit_per_second <= 10000);
