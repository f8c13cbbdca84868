-- An agent in manual test mode gets test decisions only (authorizing nothing) until it is
-- moved to enforcement; existing agents are enforced.
ALTER TABLE agents
    ADD COLUMN mode text NOT NULL DEFAULT 'enforced' CHECK (mode IN ('enforced', 'test'));
