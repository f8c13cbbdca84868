"""How many calls one key may have in flight in this process: a flood by one tenant, or by
callers no tenant owns, must not take the slots every other tenant's Verify needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter

from behalf.common.errors import ResourceExhausted

REFUSED = Counter(
    "behalf_verifier_admission_refused_total",
    "Calls refused because their tenant (or unknown keys together) had too many in flight.",
    ["limit"],
)

# Calls with a key this process does not know that may wait at once for a later revision.
UNKNOWN_KEYS_IN_FLIGHT = 32


def default_tenant_in_flight(max_concurrent_rpcs: int) -> int:
    """What one tenant may have in flight unless configured: a quarter of the server's calls."""
    return max(1, max_concurrent_rpcs // 4)


class InFlightLimit:
    """At most `limit` calls in flight per key; one more is refused at once, never queued (a
    queue would hold the flood's calls, and the slots, all the same)."""

    def __init__(self, name: str, limit: int) -> None:
        self._limit = limit
        self._in_flight: dict[str, int] = {}
        self._refused = REFUSED.labels(name)

    def try_enter(self, key: str) -> bool:
        held = self._in_flight.get(key, 0)
        if held >= self._limit:
            self._refused.inc()
            return False
        self._in_flight[key] = held + 1
        return True

    def leave(self, key: str) -> None:
        held = self._in_flight[key] - 1
        if held:
            self._in_flight[key] = held
        else:
            del self._in_flight[key]  # an idle key holds no memory

    @contextmanager
    def admitted(self, key: str, refusal: str) -> Iterator[None]:
        """Hold one of `key`'s slots for the block, or raise ResourceExhausted(`refusal`)."""
        if not self.try_enter(key):
            raise ResourceExhausted(refusal)
        try:
            yield
        finally:
            self.leave(key)

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)
