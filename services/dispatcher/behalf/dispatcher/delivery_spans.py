"""Traces of webhook deliveries: a span per attempt, and the POST's `traceparent`.

    decision's context (Kafka header) ─▶ "deliver webhook" (CONSUMER, one per attempt)
                                            └─▶ "POST" (CLIENT; its context goes out as the
                                                 request's `traceparent`, for the customer)

Both wrappers are installed only while tracing is on (`behalf.common.tracing`), so with it off
a delivery runs exactly the code it ran before. The POST span names the endpoint's host and
port, never its path or query, which may hold a customer's token.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from opentelemetry.trace import SpanKind, StatusCode

from behalf.common.tracing import enabled, inject_http, span
from behalf.dispatcher.attempts import AttemptOutcome
from behalf.dispatcher.breaker import Breaker
from behalf.dispatcher.delivery import HttpDeliverer
from behalf.dispatcher.lanes import Work
from behalf.dispatcher.store import DeliveryRow
from behalf.dispatcher.targets import Target


def traced_attempts(work: Work) -> Work:
    """`work` (one delivery attempt) inside a "deliver webhook" span, a child of the context
    the delivery was queued in; `work` itself while tracing is off."""
    if not enabled():
        return work

    async def attempt(row: DeliveryRow, target: Target, breaker: Breaker) -> None:
        attributes = {
            "behalf.tenant.id": row.tenant_id,
            "behalf.endpoint.id": row.endpoint_id,
            "behalf.delivery.id": row.delivery_id,
            "behalf.webhook.id": row.webhook_id,
            "behalf.event.id": row.event_id,
            "behalf.event.type": row.event_type,
            "behalf.delivery.attempt": row.attempt_count + 1,
        }
        with span("deliver webhook", SpanKind.CONSUMER, attributes):
            await work(row, target, breaker)

    return attempt


class TracedDeliverer(HttpDeliverer):
    """An HttpDeliverer whose every POST is a CLIENT span, its context in `traceparent`."""

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, tenant_id: str = ""
    ) -> AttemptOutcome:
        parts = urlsplit(url)
        attributes: dict[str, str | int] = {
            "http.request.method": "POST",
            "url.scheme": parts.scheme,
            "server.address": parts.hostname or "",
        }
        if parts.port is not None:
            attributes["server.port"] = parts.port
        with span("POST", SpanKind.CLIENT, attributes) as current:
            traced = dict(headers)
            inject_http(traced)
            outcome = await super().post(url, traced, body, tenant_id=tenant_id)
            if current is not None:
                if outcome.status_code:
                    current.set_attribute("http.response.status_code", outcome.status_code)
                if outcome.error:
                    current.set_attribute("error.type", outcome.error)
                    current.set_status(StatusCode.ERROR, outcome.error)
        return outcome
