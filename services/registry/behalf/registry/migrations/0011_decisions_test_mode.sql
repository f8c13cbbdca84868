-- Test-mode decisions told apart from real ones: CountDecisions counts real decisions only, and
-- the decision that asked for an approval is found among real ones (an agent's test requests
-- under the same request id cannot push it out). Rows stored before read as real.
ALTER TABLE decisions ADD COLUMN test_mode boolean NOT NULL DEFAULT false;
