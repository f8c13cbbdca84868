"""A replaced snapshot is freed a slice at a time, never while something still holds it."""

from __future__ import annotations

import asyncio
import gc
import weakref

from behalf.verifier.persistent_map import PersistentMap
from behalf.verifier.policy_watch import _let_go


class Value:
    """A value that can be watched with a weak reference."""


def test_buckets_hold_every_entry() -> None:
    """The buckets of a map hold exactly its entries, so holding them keeps the entries alive."""
    mapping = PersistentMap({n: n * 2 for n in range(10_000)})
    buckets = mapping.buckets()
    assert sum(len(bucket) for bucket in buckets) == len(mapping)
    assert {k: v for bucket in buckets for k, v in bucket.items()} == dict(mapping.items())


async def test_let_go_frees_entries_only_at_the_end_of_its_slices() -> None:
    """Entries outlive the map while their buckets are held, and are freed once let go."""
    values = [Value() for _ in range(2_000)]
    watched = [weakref.ref(v) for v in values]
    mapping = PersistentMap(enumerate(values))
    buckets: list[object] = list(mapping.buckets())
    del mapping, values
    gc.collect()
    assert all(ref() is not None for ref in watched)
    task = asyncio.create_task(_let_go(buckets, step=8, grace_seconds=0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert any(ref() is not None for ref in watched)  # not all at once
    await task
    assert buckets == []
    assert all(ref() is None for ref in watched)


async def test_a_request_holding_the_old_snapshot_keeps_it_whole() -> None:
    """Letting go of the buckets never empties a map that a request still reads."""
    mapping = PersistentMap({("ten", f"agt_{n}"): n for n in range(5_000)})
    await _let_go(list(mapping.buckets()), step=16, grace_seconds=0)
    assert len(mapping) == 5_000
    assert all(mapping[("ten", f"agt_{n}")] == n for n in range(5_000))
