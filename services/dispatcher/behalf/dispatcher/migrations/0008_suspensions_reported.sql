-- A suspension the registry has not acknowledged yet is reported again by the reclaim loop,
-- so an endpoint disabled here is never left enabled in the registry with no way back.
ALTER TABLE endpoint_suspensions ADD COLUMN reported boolean NOT NULL DEFAULT false;
CREATE INDEX endpoint_suspensions_unreported ON endpoint_suspensions (suspended_at)
    WHERE NOT reported;
