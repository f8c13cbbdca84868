"""Binding a Verify request id to the one request it names, before a stateful step."""

from __future__ import annotations

import structlog

from behalf.common.errors import AlreadyExists
from behalf.registry.store import request_ids
from behalf.registry.store._rows import Connection
from behalf.registry.store.request_ids import RequestFacts, RequestIdReused

_log = structlog.get_logger("request_ids")


async def claim(conn: Connection, facts: RequestFacts) -> None:
    """Bind the request id to this request, or refuse: an id names exactly one request."""
    try:
        await request_ids.claim(conn, facts)
    except RequestIdReused:
        _log.warning("request_id_reused", tenant_id=facts.tenant_id, agent_id=facts.agent_id)
        raise AlreadyExists(
            "request_id was already used for a different request; a request id names one request"
        ) from None
