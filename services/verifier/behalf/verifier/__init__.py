"""The verifier: the fail-closed Verify hot path over an in-memory policy snapshot."""
