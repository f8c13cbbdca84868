-- The one global policy revision: every policy mutation bumps it inside its transaction.
-- The row lock serialises mutations, so revision order is commit order.
CREATE TABLE policy_revision (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision bigint NOT NULL
);
INSERT INTO policy_revision (id, revision) VALUES (true, 0);
