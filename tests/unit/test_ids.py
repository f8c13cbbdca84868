"""Ids are prefixed, well-formed and unique."""

from __future__ import annotations

from behalf.common.ids import is_id, new_id, new_ids


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


def test_ids_drawn_together_are_well_formed_and_distinct() -> None:
    """Any count, odd or even, gives that many ids, all well-formed and unique across draws."""
    drawn = [i for count in (0, 1, 2, 3, 7, 1000) for i in new_ids("dlv", count)]
    assert len(drawn) == 1013
    assert all(is_id(i, "dlv") for i in drawn)
    assert len(set(drawn)) == len(drawn)


def test_an_id_carries_a_hundred_random_bits() -> None:
    """Each of the 20 characters takes all 32 values of its alphabet over many ids."""
    bodies = [i.partition("_")[2] for i in new_ids("req", 4000)]
    for position in range(20):
        assert len({body[position] for body in bodies}) == 32
