"""Sharing repeated values while a snapshot is built: one object per distinct value.

A million permissions repeat a handful of tenant ids, actions, action sets, currencies, limits
and expiry times, and often their resource patterns; each protobuf field read makes a new
object. An `Interner` lives for one snapshot build and hands back the first object it saw for
each value, so the snapshot holds one copy of each and conversion skips repeated work (UTS46
and IDNA for a pattern, a datetime for a timestamp). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

T = TypeVar("T")
_MAX_RESOURCES_CACHED = 1 << 18  # distinct resource lists remembered per build


class Interner:
    """Caches for one snapshot build; values must be immutable."""

    __slots__ = ("_frozensets", "_objects", "_resources", "_singles", "_strings", "_times")

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._frozensets: dict[tuple[str, ...], frozenset[str]] = {}
        self._times: dict[tuple[int, int], datetime] = {}
        self._objects: dict[object, object] = {}
        self._singles: dict[str, frozenset[str]] = {}
        self._resources: dict[str | tuple[str, ...], object] = {}

    def string(self, value: str) -> str:
        """The one shared copy of `value`."""
        return self._strings.setdefault(value, value)

    def names(self, values: Sequence[str]) -> frozenset[str]:
        """The one shared frozenset of these names (the sequence, in order, is the key)."""
        if len(values) == 1:  # most grants name one action: key on the string itself
            single = values[0]
            found = self._singles.get(single)
            if found is None:
                found = self._singles[single] = frozenset((self.string(single),))
            return found
        key = tuple(values)
        found = self._frozensets.get(key)
        if found is None:
            found = self._frozensets[key] = frozenset(self.string(v) for v in key)
        return found

    def time(self, timestamp: Timestamp) -> datetime:
        """The shared aware UTC datetime of a protobuf Timestamp (converted once per value)."""
        key = (timestamp.seconds, timestamp.nanos)
        found = self._times.get(key)
        if found is None:
            found = self._times[key] = timestamp.ToDatetime(tzinfo=UTC)
        return found

    def value(self, value: T) -> T:
        """The one shared copy of a hashable immutable value (a Money, for example)."""
        return self._objects.setdefault(value, value)  # type: ignore[return-value]

    def resources(self, raw: Sequence[str], convert: Callable[[tuple[str, ...]], T]) -> T:
        """`convert(tuple(raw))`, computed once per distinct resource list (bounded)."""
        key: str | tuple[str, ...] = raw[0] if len(raw) == 1 else tuple(raw)
        found = self._resources.get(key)
        if found is None:
            found = convert((key,) if isinstance(key, str) else key)
            if len(self._resources) < _MAX_RESOURCES_CACHED:
                self._resources[key] = found
        return found  # type: ignore[return-value]
