"""Looking up endpoint hosts without letting one tenant's slow DNS hold up the others.

getaddrinfo blocks a thread for as long as the name's DNS servers take, and a tenant chooses
those servers when it registers a URL. On the event loop's default pool (CPUs + 4 threads, shared
with everything else) a handful of attempts to one slow name would take every thread and stall
every other tenant's lookups. Here lookups run on a pool of their own, concurrent lookups of one
host and port share a single thread, and one tenant's lookups hold at most a quarter of the
threads at once: its further lookups wait for one of its own, so a tenant with many endpoints
on many slow names delays only itself.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from behalf.common.tenant_turns import TenantTurns

Lookup = Callable[[str, int], list[str]]
"""A blocking lookup: the addresses of (host, port), first answer first; OSError if none."""

DNS_THREADS = 32


def getaddrinfo_addresses(host: str, port: int) -> list[str]:
    """Every TCP address of `host`, as the system resolver orders them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SharedLookups:
    """A `Resolver` (behalf.dispatcher.delivery): one lookup in flight per host and port,
    whose answer (or error) every caller waiting for it gets; a tenant's lookups hold at most
    `threads // 4` threads at once."""

    def __init__(self, lookup: Lookup = getaddrinfo_addresses, threads: int = DNS_THREADS) -> None:
        self._lookup = lookup
        self._threads = threads
        self._turns = TenantTurns(turns_per_tenant=max(threads // 4, 1))
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def __call__(self, host: str, port: int, tenant_id: str) -> Sequence[str]:
        key = (host, port)
        pending = self._in_flight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._resolve(host, port, tenant_id))
            self._in_flight[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # A caller that gives up (its attempt timed out) leaves the lookup to the others.
        return await asyncio.shield(pending)

    async def _resolve(self, host: str, port: int, tenant_id: str) -> list[str]:
        async with self._turns.turn(tenant_id):
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="dns")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._lookup, host, port)

    def _settled(self, key: tuple[str, int], done: asyncio.Future[list[str]]) -> None:
        if self._in_flight.get(key) is done:
            del self._in_flight[key]
        if not done.cancelled():
            done.exception()  # retrieved, even if every caller gave up waiting

    def close(self) -> None:
        """Stop taking lookups; one still blocked in the system resolver ends on its own."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
