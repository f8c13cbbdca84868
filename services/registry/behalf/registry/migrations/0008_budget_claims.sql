-- How many Verify calls answer for a reservation: the one that made it and every retry with its
-- request id that found it live. Each call whose allow could not stand (its audit failed) gives
-- back its own claim; the amount returns to the budget only with the last one, so a retry that
-- fails cannot refund what an earlier call with the same request id was allowed to spend.
ALTER TABLE budget_reservations
    ADD COLUMN claims integer NOT NULL DEFAULT 1 CHECK (claims >= 0);
