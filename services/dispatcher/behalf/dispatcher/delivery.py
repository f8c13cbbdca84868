"""One signed HTTP POST to one endpoint, bounded in time, size and per-endpoint concurrency.

The SSRF guard: every attempt resolves the endpoint's host once (with the injectable
`Resolver`), refuses the attempt unless every address is public (`is_public_address`, the same
definition the registry validates URLs with), and pins those checked addresses for the attempt.
The connection pool's network backend (`PinnedBackend`) connects only to a pinned address and
never resolves a name, so a second DNS answer (rebinding to 127.0.0.1 or 169.254.169.254) is
never used; httpx still takes the URL's host name for the Host header, TLS SNI and certificate
verification. A pooled keep-alive connection (idle at most httpx's 5 s) serves only the same
host name, leads to an address an earlier attempt for that host checked, and is used only by an
attempt whose own answer passed the check: a host that now resolves to a refused address gets
no request, pooled or new. `allow_private_targets` (development) skips the check and still
connects only to the addresses just resolved.
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
USER_AGENT = "Behalf-Webhooks/1"


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


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose network backend is `PinnedBackend`."""

    def __init__(
        self, limits: httpx.Limits, connector: httpcore.AsyncNetworkBackend | None
    ) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend, and sends through `_pool`: give it one that pins.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(connector),
        )


class HttpDeliverer:
    """POSTs signed bodies with httpx: no redirects, connect and total timeouts, bounded reads.

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
        # One keep-alive pool per endpoint URL: httpcore scans every pooled connection on each
        # request, so one shared pool costs O(all endpoints' connections) per POST.
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._retired: set[asyncio.Task[None]] = set()

    def _client(self, url: str) -> httpx.AsyncClient:
        client = self._clients.get(url)
        if client is not None:
            self._clients.move_to_end(url)
            return client
        settings = self._settings
        client = self._clients[url] = httpx.AsyncClient(
            transport=_PinnedTransport(
                httpx.Limits(
                    max_connections=None,
                    max_keepalive_connections=max(settings.endpoint_concurrency, 1),
                ),
                self._connector,
            ),
            follow_redirects=False,
            timeout=httpx.Timeout(
                settings.total_timeout_seconds, connect=settings.connect_timeout_seconds
            ),
            headers={"user-agent": USER_AGENT},
            trust_env=False,
        )
        if len(self._clients) > MAX_POOLS:  # the least recently used, once its attempts ended
            _url, old = self._clients.popitem(last=False)
            task = asyncio.create_task(self._retire(old))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)
        return client

    async def _retire(self, client: httpx.AsyncClient) -> None:
        await asyncio.sleep(self._settings.total_timeout_seconds)
        await client.aclose()

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.aclose()

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> AttemptOutcome:
        """One attempt; never raises for network trouble, which becomes `error`."""
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._settings.total_timeout_seconds):
                target = _checked_url(url, allow_private=self._settings.allow_private_targets)
                pinned = _PINNED.set(await self._pin(target))
                try:
                    async with self._client(url).stream(
                        "POST", target, headers=headers, content=body
                    ) as resp:
                        snippet = await _read_bounded(resp)
                        status = resp.status_code
                        retry_after_header = resp.headers.get("retry-after")
                finally:
                    _PINNED.reset(pinned)
        except _Refused as exc:
            return AttemptOutcome(
                started_at, 0, time.perf_counter() - started, str(exc), "", permanent=True
            )
        except _Unresolvable as exc:
            return _failure(started_at, started, str(exc))
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
