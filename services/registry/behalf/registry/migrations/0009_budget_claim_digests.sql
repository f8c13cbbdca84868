-- Each claim on a reservation is a secret the registry hands to the one ReserveBudget call that
-- made it; only its SHA-256 digest is kept. ReleaseBudget must name a live claim, so whoever
-- else holds the verifier's credential cannot give back a spend that was allowed. Reservations
-- made before this migration hold no digest and can no longer be released: they stay spent
-- (fail closed).
ALTER TABLE budget_reservations
    ADD COLUMN claim_digests bytea[] NOT NULL DEFAULT '{}';
