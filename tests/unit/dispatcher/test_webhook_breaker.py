"""The per-endpoint circuit breaker."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from behalf.dispatcher.breaker import CLOSED, HALF_OPEN, OPEN, Breaker


def test_opens_after_threshold_failures_in_a_row():
    """Five failures in a row open it; a success in between starts the count over."""
    b = Breaker(threshold=5, cooldown_seconds=5)
    for _ in range(4):
        b.record(False, 0)
    b.record(True, 0)
    for _ in range(4):
        b.record(False, 0)
    assert b.state == CLOSED and b.allow(0)
    b.record(False, 1)
    assert b.state == OPEN and not b.allow(1) and b.remaining(1) == 5


def test_half_open_lets_one_probe_through_and_its_outcome_decides():
    """After the cooldown exactly one probe goes; failing doubles the cooldown, success closes."""
    b = Breaker(threshold=1, cooldown_seconds=5, max_cooldown_seconds=60)
    b.record(False, 0)
    assert not b.allow(4.9)
    assert b.allow(5.0) and b.state == HALF_OPEN
    assert not b.allow(5.1)  # one probe at a time
    b.record(False, 6)
    assert b.state == OPEN and b.remaining(6) == 10
    assert b.allow(16)
    b.record(True, 16.5)
    assert b.state == CLOSED and b.allow(17)


def test_blocked_while_cooling_down_or_probing():
    """`blocked` is true exactly when `allow` would refuse: cooling down, or a probe is out."""
    b = Breaker(threshold=1, cooldown_seconds=5)
    assert not b.blocked(0)
    b.record(False, 0)
    assert b.blocked(4.9) and not b.blocked(5.0)  # the cooldown is over: a probe may go
    assert b.allow(5.0) and b.blocked(5.1)  # the probe is out
    b.record(True, 6)
    assert not b.blocked(6)


@given(st.lists(st.booleans(), max_size=200))
def test_cooldown_never_exceeds_its_cap(outcomes):
    """Whatever happens, the breaker never waits longer than its maximum cooldown."""
    b = Breaker(threshold=2, cooldown_seconds=1, max_cooldown_seconds=8)
    now = 0.0
    for ok in outcomes:
        now += 1
        if b.allow(now):
            b.record(ok, now)
        assert b.remaining(now) <= 8
