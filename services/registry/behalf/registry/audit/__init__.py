"""The audit trail: the decisions topic into the `decisions` table (`sink`), and the queries over
it (`queries`); the SQL is `behalf.registry.store.decisions`."""

from behalf.registry.audit.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, AuditQueries
from behalf.registry.audit.sink import AuditSink, enum_name

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "AuditQueries", "AuditSink", "enum_name"]
