"""Looking up endpoint hosts without letting one tenant's slow DNS hold up the others.

getaddrinfo blocks a thread for as long as the name's DNS servers take, and a tenant chooses
those servers when it registers a URL. On the event loop's default pool (CPUs + 4 threads, shared
with everything else) a handful of attempts to one slow name would take every thread and stall
every other tenant's lookups. Here concurrent lookups of one host and port share a single
thread, and lookups run on a pool of their own.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

Lookup = Callable[[str, int], list[str]]
"""A blocking lookup: the addresses of (host, port), first answer first; OSError if none."""

DNS_THREADS = 32


def getaddrinfo_addresses(host: str, port: int) -> list[str]:
    """Every TCP address of `host`, as the system resolver orders them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SharedLookups:
    """A `Resolver` (behalf.dispatcher.delivery): one lookup in flight per host and port,
    whose answer (or error) every caller waiting for it gets."""

    def __init__(self, lookup: Lookup = getaddrinfo_addresses, threads: int = DNS_THREADS) -> None:
        self._lookup = lookup
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: dict[tuple[str, int], asyncio.Future[list[str]]] = {}

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        key = (host, port)
        pending = self._in_flight.get(key)
        if pending is None:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="dns")
            loop = asyncio.get_running_loop()
            pending = loop.run_in_executor(self._executor, self._lookup, host, port)
            self._in_flight[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # A caller that gives up (its attempt timed out) leaves the lookup to the others.
        return await asyncio.shield(pending)

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
