"""Attempt counts per endpoint over a sliding window, and the health reports built from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.dispatcher.attempts import AttemptOutcome
from behalf.dispatcher.breaker import Breaker
from behalf.dispatcher.delivery_stats import MAX_ERROR_TEXT, DeliveryStats
from behalf.dispatcher.health_report import MAX_PER_REQUEST, health_requests
from behalf.v1 import resources_pb2 as rpb

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
TENANT = "ten_" + "a" * 20


def outcome(status: int, at: datetime = T0, error: str | None = None) -> AttemptOutcome:
    text = error if error is not None else ("" if 200 <= status < 300 else f"HTTP {status}")
    return AttemptOutcome(at, status, 0.01, text, "")


def test_counts_latest_error_and_success():
    stats = DeliveryStats(window_seconds=600, bucket_seconds=60)
    stats.record(TENANT, "whe_a", outcome(200, T0), 1000)
    stats.record(TENANT, "whe_a", outcome(503, T0 + timedelta(seconds=2)), 1001)
    stats.record(TENANT, "whe_a", outcome(0, T0 + timedelta(seconds=1), "ReadTimeout"), 1002)
    stats.record(TENANT, "whe_b", outcome(204), 1002)
    (a, b) = sorted(stats.snapshot(1003), key=lambda s: s.endpoint_id)
    assert (a.attempts, a.successes) == (3, 1)
    # The error that started last is the last error, whatever order the answers came in.
    assert (a.last_error, a.last_error_status_code) == ("HTTP 503", 503)
    assert a.last_error_at == T0 + timedelta(seconds=2) and a.last_success_at == T0
    assert (b.attempts, b.successes, b.last_error, b.last_error_at) == (1, 1, "", None)


def test_the_window_slides_and_an_idle_endpoint_is_dropped():
    stats = DeliveryStats(window_seconds=120, bucket_seconds=60)
    stats.record(TENANT, "whe_a", outcome(500), 0)  # bucket 0
    stats.record(TENANT, "whe_a", outcome(200), 61)  # bucket 1
    assert stats.snapshot(119)[0].attempts == 2
    assert stats.snapshot(120)[0].attempts == 1  # bucket 0 has left the window
    assert stats.snapshot(180) == []


def test_error_text_is_bounded():
    stats = DeliveryStats()
    stats.record(TENANT, "whe_a", outcome(0, error="E" * 1000), 0)
    assert len(stats.snapshot(0)[0].last_error) == MAX_ERROR_TEXT


def test_a_window_must_be_whole_buckets():
    with pytest.raises(ValueError, match="whole number"):
        DeliveryStats(window_seconds=90, bucket_seconds=60)


@given(st.lists(st.tuples(st.integers(0, 7200), st.booleans()), max_size=200), st.integers(0, 7200))
def test_the_counts_are_the_attempts_in_the_last_window(attempts, now_offset):
    """Whatever the attempts, the counts are those whose bucket is within the window."""
    attempts.sort()
    stats = DeliveryStats(window_seconds=600, bucket_seconds=60)
    for at, ok in attempts:
        stats.record(TENANT, "whe_a", outcome(200 if ok else 500), at)
    now = (attempts[-1][0] if attempts else 0) + now_offset
    inside = [(at, ok) for at, ok in attempts if at // 60 > now // 60 - 10]
    snapshot = stats.snapshot(now)
    if not inside:
        assert snapshot == []
        return
    assert (snapshot[0].attempts, snapshot[0].successes) == (
        len(inside),
        sum(ok for _, ok in inside),
    )


def test_reports_carry_the_breaker_and_are_split_for_the_registry():
    stats = DeliveryStats()
    for i in range(MAX_PER_REQUEST + 1):
        stats.record(TENANT, f"whe_{i:020d}", outcome(500), 0)
    broken = Breaker(threshold=1)
    broken.record(False, 0)
    breakers = {"whe_" + "0" * 20: broken}
    requests = list(health_requests("dispatcher-x", stats.snapshot(0), breakers.get, 3600))
    assert [len(r.endpoints) for r in requests] == [MAX_PER_REQUEST, 1]
    first = requests[0].endpoints[0]
    assert first.endpoint_id == "whe_" + "0" * 20 and first.tenant_id == TENANT
    assert first.health.breaker_state == rpb.BREAKER_STATE_OPEN
    assert requests[0].endpoints[1].health.breaker_state == rpb.BREAKER_STATE_CLOSED
    assert first.health.last_error == "HTTP 500" and first.health.window_seconds == 3600
    assert not first.health.HasField("last_success_time")
