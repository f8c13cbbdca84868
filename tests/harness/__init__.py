"""Test harness shared by Behalf's test suites: local infrastructure (PostgreSQL, Kafka)."""
