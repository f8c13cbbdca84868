"""How attempts to each endpoint went within a sliding window: what the registry shows as an
endpoint's health (success rate, last error, last success).

Pure and per process. Counts live in buckets (a minute each by default) so the window slides
without keeping every attempt; an endpoint with no attempt left in the window is dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from behalf.dispatcher.attempts import AttemptOutcome

MAX_ERROR_TEXT = 200


@dataclass(frozen=True)
class EndpointStats:
    """One endpoint's attempts within the window."""

    tenant_id: str
    endpoint_id: str
    attempts: int
    successes: int
    last_error: str
    last_error_status_code: int
    last_error_at: datetime | None
    last_success_at: datetime | None


@dataclass
class _Bucket:
    index: int
    attempts: int = 0
    successes: int = 0


@dataclass
class _Endpoint:
    tenant_id: str
    buckets: deque[_Bucket] = field(default_factory=deque)
    last_error: str = ""
    last_error_status_code: int = 0
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None


class DeliveryStats:
    """Attempt counts per endpoint over the last `window_seconds`; `now` is wall-clock seconds."""

    def __init__(self, window_seconds: int = 3600, bucket_seconds: int = 60) -> None:
        if window_seconds <= 0 or bucket_seconds <= 0 or window_seconds % bucket_seconds:
            raise ValueError("the window must be a positive whole number of buckets")
        self.window_seconds = window_seconds
        self._bucket_seconds = bucket_seconds
        self._buckets = window_seconds // bucket_seconds
        self._endpoints: dict[str, _Endpoint] = {}

    def record(self, tenant_id: str, endpoint_id: str, outcome: AttemptOutcome, now: float) -> None:
        """Count one attempt."""
        endpoint = self._endpoints.get(endpoint_id)
        if endpoint is None:
            endpoint = self._endpoints[endpoint_id] = _Endpoint(tenant_id)
        index = int(now // self._bucket_seconds)
        if not endpoint.buckets or endpoint.buckets[-1].index < index:
            endpoint.buckets.append(_Bucket(index))
        bucket = endpoint.buckets[-1]
        bucket.attempts += 1
        if outcome.succeeded:
            bucket.successes += 1
            endpoint.last_success_at = _later(endpoint.last_success_at, outcome.started_at)
        elif endpoint.last_error_at is None or outcome.started_at >= endpoint.last_error_at:
            endpoint.last_error = outcome.error[:MAX_ERROR_TEXT]
            endpoint.last_error_status_code = outcome.status_code
            endpoint.last_error_at = outcome.started_at
        self._expire(endpoint, index)

    def snapshot(self, now: float) -> list[EndpointStats]:
        """Every endpoint with an attempt in the window; the others are forgotten."""
        index = int(now // self._bucket_seconds)
        stats: list[EndpointStats] = []
        for endpoint_id, endpoint in list(self._endpoints.items()):
            self._expire(endpoint, index)
            if not endpoint.buckets:
                del self._endpoints[endpoint_id]
                continue
            stats.append(
                EndpointStats(
                    tenant_id=endpoint.tenant_id,
                    endpoint_id=endpoint_id,
                    attempts=sum(b.attempts for b in endpoint.buckets),
                    successes=sum(b.successes for b in endpoint.buckets),
                    last_error=endpoint.last_error,
                    last_error_status_code=endpoint.last_error_status_code,
                    last_error_at=endpoint.last_error_at,
                    last_success_at=endpoint.last_success_at,
                )
            )
        return stats

    def _expire(self, endpoint: _Endpoint, index: int) -> None:
        while endpoint.buckets and endpoint.buckets[0].index <= index - self._buckets:
            endpoint.buckets.popleft()


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current
