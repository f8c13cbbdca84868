"""The Behalf web console: server-rendered pages over the registry, dispatcher and verifier."""
