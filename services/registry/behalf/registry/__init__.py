"""The registry: policy, audit trail, outbox relay and the policy watch stream, over PostgreSQL."""
