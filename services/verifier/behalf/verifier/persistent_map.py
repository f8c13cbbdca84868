"""An immutable hash map whose updates copy only a small slice of it (structural sharing)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any, Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_BITS = 6
_FANOUT = 1 << _BITS
_MASK = _FANOUT - 1
_EMPTY_BUCKET: Final[dict[Any, Any]] = {}  # shared by every empty slot; never mutated


class PersistentMap(Mapping[K, V]):
    """A read-only mapping; `set` and `delete` return a new map sharing most of this one.

    Layout: a fixed two-level trie, 64 x 64 = 4096 dict buckets chosen by the key's hash.
    An update copies two 64-slot tuples and the one bucket it touches (about n / 4096 entries),
    so a change to a map of a million entries copies a few hundred references, not a million.
    A lookup is one hash and three subscripts. Buckets are never mutated once published.
    """

    __slots__ = ("_root", "_size")

    _root: tuple[tuple[dict[K, V], ...], ...]
    _size: int

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        builder: PersistentMapBuilder[K, V] = PersistentMapBuilder()
        for key, value in pairs:
            builder[key] = value
        self._root, self._size = builder._parts()

    @classmethod
    def _from_parts(
        cls, root: tuple[tuple[dict[K, V], ...], ...], size: int
    ) -> PersistentMap[K, V]:
        new = cls.__new__(cls)
        new._root = root
        new._size = size
        return new

    def __getitem__(self, key: K) -> V:
        h = hash(key)
        return self._root[h & _MASK][(h >> _BITS) & _MASK][key]

    def get(self, key: K, default: V | None = None) -> V | None:  # type: ignore[override]
        h = hash(key)
        return self._root[h & _MASK][(h >> _BITS) & _MASK].get(key, default)

    def __contains__(self, key: object) -> bool:
        h = hash(key)
        return key in self._root[h & _MASK][(h >> _BITS) & _MASK]

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[K]:
        for row in self._root:
            for bucket in row:
                yield from bucket

    def buckets(self) -> list[dict[K, V]]:
        """Every non-empty bucket: holding them lets a caller free a big map in small steps."""
        return [bucket for row in self._root for bucket in row if bucket]

    def set(self, key: K, value: V) -> PersistentMap[K, V]:
        """Return a map with `key` bound to `value`."""
        h = hash(key)
        i, j = h & _MASK, (h >> _BITS) & _MASK
        row = self._root[i]
        bucket = dict(row[j])
        grew = key not in bucket
        bucket[key] = value
        return self._replace_bucket(i, j, bucket, self._size + grew)

    def delete(self, key: K) -> PersistentMap[K, V]:
        """Return a map without `key`; this same map if the key is absent."""
        h = hash(key)
        i, j = h & _MASK, (h >> _BITS) & _MASK
        old = self._root[i][j]
        if key not in old:
            return self
        bucket = dict(old)
        del bucket[key]
        return self._replace_bucket(i, j, bucket or _EMPTY_BUCKET, self._size - 1)

    def _replace_bucket(self, i: int, j: int, bucket: dict[K, V], size: int) -> PersistentMap[K, V]:
        row = self._root[i]
        new_row = (*row[:j], bucket, *row[j + 1 :])
        new_root = (*self._root[:i], new_row, *self._root[i + 1 :])
        return self._from_parts(new_root, size)

    def __repr__(self) -> str:
        return f"PersistentMap({len(self)} entries)"


class PersistentMapBuilder(Generic[K, V]):
    """Fills a `PersistentMap` one entry at a time (a snapshot built as its chunks arrive)."""

    __slots__ = ("_buckets", "_size")

    def __init__(self) -> None:
        self._buckets: list[list[dict[K, V]]] = [[_EMPTY_BUCKET] * _FANOUT for _ in range(_FANOUT)]
        self._size = 0

    def __setitem__(self, key: K, value: V) -> None:
        h = hash(key)
        row = self._buckets[h & _MASK]
        column = (h >> _BITS) & _MASK
        bucket = row[column]
        if bucket is _EMPTY_BUCKET:
            bucket = row[column] = {}
        if key not in bucket:
            self._size += 1
        bucket[key] = value

    def __len__(self) -> int:
        return self._size

    def _parts(self) -> tuple[tuple[tuple[dict[K, V], ...], ...], int]:
        return tuple(tuple(row) for row in self._buckets), self._size

    def build(self) -> PersistentMap[K, V]:
        """The finished map; the builder must not be used afterwards."""
        root, size = self._parts()
        self._buckets = []
        return PersistentMap._from_parts(root, size)
