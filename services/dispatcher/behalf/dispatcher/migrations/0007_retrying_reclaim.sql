-- Reclaim finds retrying deliveries whose retry task was lost (long past due).
CREATE INDEX deliveries_retrying_next ON deliveries (next_attempt_at) WHERE state = 'retrying';
