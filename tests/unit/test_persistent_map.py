"""Tests for the structurally shared immutable map behind the policy snapshot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.verifier.persistent_map import PersistentMap

OPS = st.lists(
    st.tuples(st.booleans(), st.integers(-50, 50) | st.text(max_size=3), st.integers()),
    max_size=60,
)


def test_lookup_and_length() -> None:
    """A map built from pairs answers lookups, membership and length like a dict."""
    m = PersistentMap({("t", "a"): 1, ("t", "b"): 2})
    assert m[("t", "a")] == 1 and m.get(("t", "c")) is None and ("t", "b") in m
    assert len(m) == 2 and dict(m) == {("t", "a"): 1, ("t", "b"): 2}
    with pytest.raises(KeyError):
        m[("u", "a")]


def test_updates_leave_the_original_untouched() -> None:
    """set and delete return new maps and never change the map they were called on."""
    original = PersistentMap({"a": 1})
    changed = original.set("a", 2).set("b", 3).delete("a")
    assert dict(original) == {"a": 1}
    assert dict(changed) == {"b": 3}


def test_delete_of_absent_key_returns_same_map() -> None:
    """Deleting a missing key is a no-op that returns the very same map."""
    m = PersistentMap({"a": 1})
    assert m.delete("zz") is m


def test_update_shares_untouched_buckets() -> None:
    """An update copies one bucket; every other bucket is shared with the old map."""
    m = PersistentMap({i: i for i in range(10_000)})
    n = m.set(5, -5)
    old_buckets = [b for row in m._root for b in row]
    new_buckets = [b for row in n._root for b in row]
    shared = sum(a is b for a, b in zip(old_buckets, new_buckets, strict=True))
    assert shared == len(old_buckets) - 1


@given(OPS)
def test_behaves_like_a_dict(ops: list[tuple[bool, object, int]]) -> None:
    """Any sequence of sets and deletes yields the same contents as the same ops on a dict."""
    model: dict[object, int] = {}
    m: PersistentMap[object, int] = PersistentMap()
    for is_set, key, value in ops:
        if is_set:
            model[key] = value
            m = m.set(key, value)
        else:
            model.pop(key, None)
            m = m.delete(key)
    assert dict(m) == model and len(m) == len(model)
    assert PersistentMap(model) == m
