"""Paged lists: a validated page request, and the token for the page after a fetched one.

Each list names its kind and how to read an item's id, so a token is never made from a guessed
attribute. A token is bound to its list and to the caller's tenant: one handed to another
tenant is refused, not read as a position in that tenant's list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from behalf.common.errors import InvalidArgument
from behalf.registry import validation as v
from behalf.registry.store import paging
from behalf.v1 import resources_pb2

T = TypeVar("T")


@dataclass(frozen=True)
class ListKind(Generic[T]):
    """One paged list: its token kind and its items' id."""

    name: str
    id_of: Callable[[T], str]


AGENTS = ListKind[resources_pb2.Agent]("agents", lambda a: a.agent_id)
PERMISSIONS = ListKind[resources_pb2.Permission]("permissions", lambda p: p.permission_id)
APPROVALS = ListKind[resources_pb2.Approval]("approvals", lambda a: a.approval_id)
WEBHOOK_ENDPOINTS = ListKind[resources_pb2.WebhookEndpoint](
    "webhook_endpoints", lambda e: e.endpoint_id
)
API_KEYS = ListKind[resources_pb2.ApiKey]("api_keys", lambda k: k.key_id)


@dataclass(frozen=True)
class PageRequest(Generic[T]):
    """A validated page of one list: where it starts and how many items it holds."""

    kind: ListKind[T]
    cursor: paging.Cursor | None
    limit: int
    scope: str  # what the token is bound to: the list and the tenant

    @property
    def fetch(self) -> int:
        """Rows to fetch: one more than the page, to know whether another follows."""
        return self.limit + 1

    def split(self, rows: Sequence[tuple[T, datetime]]) -> tuple[list[T], str]:
        """The page's items, and the token of the next page (empty on the last)."""
        items = [item for item, _ in rows[: self.limit]]
        if len(rows) <= self.limit:
            return items, ""
        item, created_at = rows[self.limit - 1]
        return items, paging.encode(self.scope, created_at, self.kind.id_of(item))


def page_request(kind: ListKind[T], token: str, page_size: int, tenant_id: str) -> PageRequest[T]:
    """Validate a list request's page size and token (InvalidArgument naming the field)."""
    limit = v.page(page_size)
    scope = f"{kind.name}@{tenant_id}"
    try:
        cursor = paging.decode(scope, token)
    except paging.BadPageToken as exc:
        raise InvalidArgument("page_token", str(exc)) from None
    return PageRequest(kind, cursor, limit, scope)
