"""One signed HTTP POST to one endpoint, bounded in time, size and per-endpoint concurrency."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from behalf.dispatcher.retry_policy import THROTTLE_STATUSES, parse_retry_after

MAX_STORED_BODY = 1024
USER_AGENT = "Behalf-Webhooks/1"


@dataclass(frozen=True)
class DeliverySettings:
    """HTTP and per-endpoint limits."""

    connect_timeout_seconds: float = 15.0
    total_timeout_seconds: float = 15.0
    endpoint_concurrency: int = 8
    endpoint_rate_per_second: float = 0.0  # 0: unlimited
    endpoint_burst: int = 50
    endpoint_queue_limit: int = 64
    allow_private_targets: bool = False


@dataclass(frozen=True)
class AttemptOutcome:
    """What one POST did; `status_code` is 0 when nothing answered."""

    started_at: datetime
    status_code: int
    latency_seconds: float
    error: str
    response_body: str
    retry_after: float | None = None
    permanent: bool = False  # retrying cannot help (refused target address)


class _TokenBucket:
    """A simple token bucket; `take` sleeps until a token is available."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._capacity = float(max(burst, 1))
        self._tokens = self._capacity
        self._stamp = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self._rate)


class _EndpointGate:
    def __init__(self, settings: DeliverySettings) -> None:
        self.semaphore = asyncio.Semaphore(settings.endpoint_concurrency)
        self.bucket = (
            _TokenBucket(settings.endpoint_rate_per_second, settings.endpoint_burst)
            if settings.endpoint_rate_per_second > 0
            else None
        )
        self.users = 0


class EndpointLimiter:
    """Per-endpoint concurrency, rate and queue bounds, so one endpoint never stalls another.

    `saturated()` says that an endpoint already has `endpoint_queue_limit` deliveries running
    or waiting; callers then park the delivery in a retry tier instead of queueing it.
    """

    def __init__(self, settings: DeliverySettings) -> None:
        self._settings = settings
        self._gates: dict[str, _EndpointGate] = {}

    def saturated(self, endpoint_id: str) -> bool:
        gate = self._gates.get(endpoint_id)
        return gate is not None and gate.users >= self._settings.endpoint_queue_limit

    @asynccontextmanager
    async def slot(self, endpoint_id: str) -> AsyncIterator[None]:
        gate = self._gates.get(endpoint_id)
        if gate is None:
            gate = self._gates[endpoint_id] = _EndpointGate(self._settings)
        gate.users += 1
        try:
            async with gate.semaphore:
                if gate.bucket is not None:
                    await gate.bucket.take()
                yield
        finally:
            gate.users -= 1
            if gate.users == 0:
                self._gates.pop(endpoint_id, None)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


async def refused_target(url: str, *, allow_private: bool) -> str | None:
    """Why `url` may not be called (scheme, or a private/loopback/link-local address), or None.

    Host names are resolved and every address must be public. The HTTP client resolves again,
    so this does not stop DNS rebinding; an egress proxy should enforce it at the network.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        return "endpoint URL must be http(s) with a host"
    if allow_private:
        return None
    if parts.scheme != "https":
        return "endpoint URL must use https"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError:
        return None  # unresolvable now: the attempt fails as a connection error and retries
    if not infos or not all(_is_public(str(info[4][0])) for info in infos):
        return "endpoint address is private, loopback or link-local"
    return None


class HttpDeliverer:
    """POSTs signed bodies with httpx: no redirects, connect and total timeouts, bounded reads."""

    def __init__(self, settings: DeliverySettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(
                settings.total_timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
            headers={"user-agent": USER_AGENT},
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> AttemptOutcome:
        """One attempt; never raises for network trouble, which becomes `error`."""
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        refusal = await refused_target(url, allow_private=self._settings.allow_private_targets)
        if refusal is not None:
            return AttemptOutcome(started_at, 0, 0.0, refusal, "", permanent=True)
        try:
            async with asyncio.timeout(self._settings.total_timeout_seconds):
                async with self._client.stream("POST", url, headers=headers, content=body) as resp:
                    snippet = await _read_bounded(resp)
                    status = resp.status_code
                    retry_after_header = resp.headers.get("retry-after")
        except TimeoutError:
            return _failure(started_at, started, "timeout")
        except httpx.TimeoutException:
            return _failure(started_at, started, "timeout")
        except httpx.HTTPError as exc:
            return _failure(started_at, started, f"{type(exc).__name__}")
        except OSError as exc:
            return _failure(started_at, started, f"{type(exc).__name__}")
        latency = time.perf_counter() - started
        retry_after = None
        if status in THROTTLE_STATUSES:
            retry_after = parse_retry_after(retry_after_header, datetime.now(UTC))
        error = "" if 200 <= status < 300 else f"HTTP {status}"
        return AttemptOutcome(started_at, status, latency, error, snippet, retry_after)


def _failure(started_at: datetime, started: float, error: str) -> AttemptOutcome:
    return AttemptOutcome(started_at, 0, time.perf_counter() - started, error, "")


async def _read_bounded(resp: httpx.Response) -> str:
    """At most MAX_STORED_BODY bytes of the body, decoded leniently; the rest is not read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_STORED_BODY:
            break
    return b"".join(chunks)[:MAX_STORED_BODY].decode("utf-8", errors="replace")
