"""Endpoint health: a whole window of failed attempts marks an endpoint failing, once."""

from __future__ import annotations

from behalf.dispatcher.endpoint_health import EndpointHealth


def test_failing_for_the_whole_window_trips_once() -> None:
    """Five failures spanning the window trip the check exactly once."""
    health = EndpointHealth(window_seconds=60, min_failures=5)
    results = [health.record("whe_a", False, t) for t in (0, 10, 20, 30, 59)]
    assert results == [False] * 5
    assert health.record("whe_a", False, 60) is True
    assert health.record("whe_a", False, 61) is False


def test_a_success_starts_over() -> None:
    """Any success in between resets the streak."""
    health = EndpointHealth(window_seconds=60, min_failures=2)
    health.record("whe_a", False, 0)
    health.record("whe_a", True, 30)
    assert health.record("whe_a", False, 70) is False
    assert health.record("whe_a", False, 131) is True


def test_few_failures_over_a_long_time_do_not_trip() -> None:
    """Too few attempts never trip it, however long they span."""
    health = EndpointHealth(window_seconds=60, min_failures=5)
    assert not any(health.record("whe_a", False, t) for t in (0, 1000, 2000))


def test_endpoints_are_independent_and_zero_window_is_off() -> None:
    """One endpoint's failures do not count for another; a zero window disables the check."""
    health = EndpointHealth(window_seconds=1, min_failures=1)
    health.record("whe_a", False, 0)
    assert health.record("whe_b", False, 5) is False
    assert health.record("whe_a", False, 5) is True
    off = EndpointHealth(window_seconds=0, min_failures=1)
    assert not any(off.record("whe_a", False, t) for t in range(100))
