"""In-flight limits per key: the call past the limit is refused at once, and slots come back."""

from __future__ import annotations

import pytest

from behalf.common.errors import ResourceExhausted
from behalf.verifier.admission import InFlightLimit


def test_the_call_past_the_limit_is_refused_and_other_keys_are_not() -> None:
    limit = InFlightLimit("test", 2)
    with limit.admitted("ten_a", "busy"), limit.admitted("ten_a", "busy"):
        with pytest.raises(ResourceExhausted, match="busy"):
            with limit.admitted("ten_a", "busy"):
                pass
        with limit.admitted("ten_b", "busy"):
            assert (limit.in_flight("ten_a"), limit.in_flight("ten_b")) == (2, 1)
    assert limit.in_flight("ten_a") == 0
    with limit.admitted("ten_a", "busy"):
        assert limit.in_flight("ten_a") == 1


def test_a_slot_comes_back_when_the_call_fails_and_idle_keys_hold_no_memory() -> None:
    limit = InFlightLimit("test", 1)
    with pytest.raises(ValueError):
        with limit.admitted("ten_a", "busy"):
            raise ValueError("the call failed")
    assert limit.in_flight("ten_a") == 0 and limit._in_flight == {}
