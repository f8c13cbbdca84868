"""The registry's PostgreSQL queries, one module per concept; no gRPC here.

Functions take a connection (or the pool, for single statements) and return protobuf
resources; transactions, revisions and events are the caller's.
"""

SCHEMA = "registry"  # the PostgreSQL schema the registry's tables live in
