-- Deliveries are queued in memory once their rows are written; a process that dies leaves them
-- pending, and any dispatcher reclaims pending rows untouched for a while (oldest first).
CREATE INDEX deliveries_pending_updated ON deliveries (updated_at) WHERE state = 'pending';
