"""One signed HTTP POST to one endpoint, bounded in time, size and per-endpoint concurrency.

The SSRF guard: every attempt resolves the endpoint's host once (with the injectable
`Resolver`), refuses the attempt unless every address is public (`is_public_address`, the same
definition the registry validates URLs with), and pins those checked addresses for the attempt.
The connection pool's network backend (`PinnedBackend`) connects only to a pinned address and
never resolves a name, so a second DNS answer (rebinding to 127.0.0.1 or 169.254.169.254) is
never used; httpcore still takes the URL's host name for the Host header, TLS SNI and
certificate verification. A pooled keep-alive connection (idle at most 5 s) serves only the same
host name, leads to an address an earlier attempt for that host checked, and is used only by an
attempt whose own answer passed the check: a host that now resolves to a refused address gets
no request, pooled or new. `allow_private_targets` (development) skips the check and still
connects only to the addresses just resolved.

The POST goes through httpcore's connection pool directly, one pool per endpoint URL: httpx's
client layer (request and response models, cookies, redirect and auth hooks) cost a quarter of
the dispatcher's CPU per delivery and does nothing here. httpx only parses and checks the URL,
once per URL.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address

import httpcore
import httpx

from behalf.common.public_address import is_public_address
from behalf.dispatcher.attempts import AttemptOutcome
from behalf.dispatcher.retry_policy import THROTTLE_STATUSES, parse_retry_after

MAX_STORED_BODY = 1024
MAX_POOLS = 1024  # keep-alive pools kept, one per endpoint URL
KEEPALIVE_SECONDS = 5.0
USER_AGENT = "Behalf-Webhooks/1"
_FIXED_HEADERS = ((b"user-agent", USER_AGENT.encode()), (b"accept", b"*/*"))
# httpcore's own errors have no common base; each becomes the attempt's error by its name.
_TRANSPORT_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


@dataclass(frozen=True)
class DeliverySettings:
    """HTTP and per-endpoint limits."""

    connect_timeout_seconds: float = 15.0
    total_timeout_seconds: float = 15.0
    endpoint_concurrency: int = 8
    endpoint_rate_per_second: float = 0.0  # 0: unlimited
    endpoint_burst: int = 50
    endpoint_queue_limit: int = 256
    allow_private_targets: bool = False
    stall_seconds: float = 1.0
    breaker_threshold: int = 5
    breaker_cooldown_seconds: float = 5.0
    reclaim_after_seconds: float = 30.0


Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Answers the addresses of (host, port), as strings; raises OSError when it cannot."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
REFUSED_ADDRESS = (
    "refused address: the endpoint resolves to a private, loopback or link-local address"
)


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The event loop's getaddrinfo: every TCP address of `host`, first answer first."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class _Pin:
    """The checked addresses one attempt may connect to, for the origin host and port."""

    host: str  # as httpcore names the origin: httpx's raw (ASCII, IDNA) host
    port: int
    addresses: tuple[str, ...]


class _Refused(Exception):
    """The guard refuses the URL or the address it resolves to; retrying cannot help."""


class _Unresolvable(Exception):
    """The endpoint's host has no address now; the attempt fails and is retried."""


_PINNED: ContextVar[_Pin | None] = ContextVar("behalf_webhook_pinned_addresses", default=None)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to the addresses pinned for the current attempt.

    httpcore calls `connect_tcp` in the task that sends the request, with the URL's host: that
    host is never resolved here. Without a pin for exactly that host and port, nothing connects.
    """

    def __init__(self, connector: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._connector = connector or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _PINNED.get()
        if pin is None or (pin.host, pin.port) != (host, port) or not pin.addresses:
            raise httpcore.ConnectError("no checked address is pinned for this host")
        connect = functools.partial(
            self._connector.connect_tcp,
            port=port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        *others, last = pin.addresses
        for address in others:  # every one was checked: fall back in the resolver's order
            with suppress(httpcore.ConnectError, httpcore.ConnectTimeout):
                return await connect(address)
        return await connect(last)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are never delivered over a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._connector.sleep(seconds)


@dataclass(frozen=True)
class _Endpoint:
    """One endpoint URL, checked and parsed once, with its keep-alive pool."""

    url: httpx.URL  # as checked: scheme, host
    target: httpcore.URL
    pool: httpcore.AsyncConnectionPool


class HttpDeliverer:
    """POSTs signed bodies with httpcore: no redirects, connect and total timeouts, bounded reads.

    Each attempt connects only to addresses its own resolution returned and, unless private
    targets are allowed, that passed the public-address check. `resolver` and `connector` (the
    backend that opens the pinned TCP connections) are the seams tests replace.
    """

    def __init__(
        self,
        settings: DeliverySettings,
        *,
        resolver: Resolver = system_resolver,
        connector: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._settings = settings
        self._resolver = resolver
        self._connector = connector
        self._ssl = httpx.create_ssl_context(trust_env=False)
        total = settings.total_timeout_seconds
        self._extensions = {
            "timeout": {
                "connect": settings.connect_timeout_seconds,
                "read": total,
                "write": total,
                "pool": total,
            }
        }
        # One keep-alive pool per endpoint URL: httpcore scans every pooled connection on each
        # request, so one shared pool costs O(all endpoints' connections) per POST.
        self._endpoints: OrderedDict[str, _Endpoint] = OrderedDict()
        self._retired: set[asyncio.Task[None]] = set()

    def _endpoint(self, url: str) -> _Endpoint:
        """The checked URL and pool of `url` (raises _Refused for a URL never to be used)."""
        endpoint = self._endpoints.get(url)
        if endpoint is not None:
            self._endpoints.move_to_end(url)
            return endpoint
        checked = _checked_url(url, allow_private=self._settings.allow_private_targets)
        endpoint = self._endpoints[url] = _Endpoint(
            checked,
            httpcore.URL(
                scheme=checked.raw_scheme,
                host=checked.raw_host,
                port=checked.port,
                target=checked.raw_path,
            ),
            httpcore.AsyncConnectionPool(
                ssl_context=self._ssl,
                max_connections=None,
                max_keepalive_connections=max(self._settings.endpoint_concurrency, 1),
                keepalive_expiry=KEEPALIVE_SECONDS,
                network_backend=PinnedBackend(self._connector),
            ),
        )
        if len(self._endpoints) > MAX_POOLS:  # the least recently used, once its attempts ended
            _url, old = self._endpoints.popitem(last=False)
            task = asyncio.create_task(self._retire(old.pool))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)
        return endpoint

    async def _retire(self, pool: httpcore.AsyncConnectionPool) -> None:
        await asyncio.sleep(self._settings.total_timeout_seconds)
        await pool.aclose()

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
        endpoints, self._endpoints = list(self._endpoints.values()), OrderedDict()
        for endpoint in endpoints:
            await endpoint.pool.aclose()

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> AttemptOutcome:
        """One attempt; never raises for network trouble, which becomes `error`."""
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        request_headers = [*_FIXED_HEADERS, *((k.encode(), v.encode()) for k, v in headers.items())]
        try:
            async with asyncio.timeout(self._settings.total_timeout_seconds):
                endpoint = self._endpoint(url)
                pinned = _PINNED.set(await self._pin(endpoint.url))
                try:
                    async with endpoint.pool.stream(
                        b"POST",
                        endpoint.target,
                        headers=request_headers,
                        content=body,
                        extensions=self._extensions,
                    ) as resp:
                        snippet = await _read_bounded(resp)
                        status = resp.status
                        retry_after_header = _header(resp, b"retry-after")
                finally:
                    _PINNED.reset(pinned)
        except _Refused as exc:
            return AttemptOutcome(
                started_at, 0, time.perf_counter() - started, str(exc), "", permanent=True
            )
        except _Unresolvable as exc:
            return _failure(started_at, started, str(exc))
        except (TimeoutError, httpcore.TimeoutException):
            return _failure(started_at, started, "timeout")
        except _TRANSPORT_ERRORS as exc:
            return _failure(started_at, started, f"{type(exc).__name__}")
        except OSError as exc:
            return _failure(started_at, started, f"{type(exc).__name__}")
        latency = time.perf_counter() - started
        retry_after = None
        if status in THROTTLE_STATUSES:
            retry_after = parse_retry_after(retry_after_header, datetime.now(UTC))
        error = "" if 200 <= status < 300 else f"HTTP {status}"
        return AttemptOutcome(started_at, status, latency, error, snippet, retry_after)

    async def _pin(self, target: httpx.URL) -> _Pin:
        """Resolve the host once and check every address; raise unless the attempt may go."""
        host = target.raw_host.decode("ascii")
        port = target.port or _DEFAULT_PORTS[target.scheme]
        try:
            ip_address(host)
            addresses: Sequence[str] = (host,)  # an IP literal is its own answer
        except ValueError:
            try:
                addresses = await self._resolver(host, port)
            except OSError:
                raise _Unresolvable("could not resolve the endpoint host") from None
        if not addresses:
            raise _Unresolvable("the endpoint host has no address")
        if not self._settings.allow_private_targets and not all(map(_is_public, addresses)):
            raise _Refused(REFUSED_ADDRESS)
        return _Pin(host, port, tuple(addresses))


def _checked_url(url: str, *, allow_private: bool) -> httpx.URL:
    """The parsed URL, or _Refused whatever the host resolves to (scheme, no host)."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL:
        raise _Refused("endpoint URL is malformed") from None
    if target.scheme not in _DEFAULT_PORTS or not target.raw_host:
        raise _Refused("endpoint URL must be http(s) with a host")
    if target.scheme != "https" and not allow_private:
        raise _Refused("endpoint URL must use https")
    return target


def _is_public(address: str) -> bool:
    try:
        return is_public_address(address)
    except ValueError:
        return False  # not an address at all: never connect to it


def _failure(started_at: datetime, started: float, error: str) -> AttemptOutcome:
    return AttemptOutcome(started_at, 0, time.perf_counter() - started, error, "")


def _header(resp: httpcore.Response, name: bytes) -> str | None:
    """The first value of header `name` (lower case), if the response has one."""
    for key, value in resp.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _read_bounded(resp: httpcore.Response) -> str:
    """At most MAX_STORED_BODY bytes of the body, decoded leniently; the rest is not read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_stream():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_STORED_BODY:
            break
    return b"".join(chunks)[:MAX_STORED_BODY].decode("utf-8", errors="replace")
