"""Ids are prefixed, well-formed and unique."""

from __future__ import annotations

from behalf.common.ids import is_id, new_id


def test_new_ids_are_well_formed_and_distinct() -> None:
    """Ten thousand new ids all match the id pattern for their prefix and never repeat."""
    ids = [new_id("req") for _ in range(10_000)]
    assert all(is_id(i, "req") for i in ids)
    assert len(set(ids)) == len(ids)


def test_is_id_checks_prefix_and_shape() -> None:
    """Another prefix, a short body or upper case is not an id."""
    assert not is_id(new_id("agt"), "prm")
    assert not is_id("agt_short", "agt")
    assert not is_id("agt_" + "A" * 20, "agt")


def test_a_trailing_newline_is_not_part_of_an_id() -> None:
    """An id followed by a newline is refused: patterns match the whole string, not up to `$`."""
    valid = new_id("agt")
    assert not is_id(valid + "\n", "agt")
