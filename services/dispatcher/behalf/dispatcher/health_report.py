"""Health reports: every few seconds this dispatcher tells the registry how its attempts to each
endpoint went and where each endpoint's circuit breaker stands (ListWebhookEndpoints shows it).

Best effort: a report that fails is logged and the next one replaces it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import grpc
import structlog

from behalf.dispatcher.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from behalf.dispatcher.delivery_stats import EndpointStats
from behalf.v1 import internal_pb2, internal_pb2_grpc, resources_pb2

_log = structlog.get_logger("health_report")

MAX_PER_REQUEST = 5_000  # the registry takes at most 10,000
_BREAKER_STATES = {
    CLOSED: resources_pb2.BREAKER_STATE_CLOSED,
    HALF_OPEN: resources_pb2.BREAKER_STATE_HALF_OPEN,
    OPEN: resources_pb2.BREAKER_STATE_OPEN,
}


def health_requests(
    dispatcher_id: str,
    stats: Sequence[EndpointStats],
    breaker_of: Callable[[str], Breaker | None],
    window_seconds: int,
) -> Iterator[internal_pb2.ReportWebhookHealthRequest]:
    """The reports for these endpoints, in requests the registry accepts."""
    for start in range(0, len(stats), MAX_PER_REQUEST):
        chunk = stats[start : start + MAX_PER_REQUEST]
        request = internal_pb2.ReportWebhookHealthRequest(dispatcher_id=dispatcher_id)
        for s in chunk:
            breaker = breaker_of(s.endpoint_id)
            health = resources_pb2.WebhookEndpointHealth(
                attempts=s.attempts,
                successes=s.successes,
                last_error=s.last_error,
                last_error_status_code=s.last_error_status_code,
                breaker_state=_BREAKER_STATES[breaker.state if breaker else CLOSED],
                window_seconds=window_seconds,
            )
            if s.last_error_at is not None:
                health.last_error_time.FromDatetime(s.last_error_at)
            if s.last_success_at is not None:
                health.last_success_time.FromDatetime(s.last_success_at)
            request.endpoints.add(tenant_id=s.tenant_id, endpoint_id=s.endpoint_id, health=health)
        yield request


class RegistryHealthReporter:
    """Sends health reports to the registry with the dispatcher's service credential."""

    def __init__(
        self, channel: grpc.aio.Channel, service_token: str, *, timeout_seconds: float = 5.0
    ) -> None:
        # protoc's _pb2_grpc modules carry no annotations.
        self._stub = internal_pb2_grpc.RegistryInternalServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata = (("authorization", f"Bearer {service_token}"),)
        self._timeout = timeout_seconds

    async def send(self, request: internal_pb2.ReportWebhookHealthRequest) -> None:
        try:
            await self._stub.ReportWebhookHealth(
                request, metadata=self._metadata, timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            _log.warning("health_report_failed", code=exc.code().name)
