"""Retry policy: 2xx succeeds, 410 is dead, throttles honour Retry-After within a cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.dispatcher.retry_policy import (
    Next,
    RetryPolicy,
    Verdict,
    classify,
    parse_retry_after,
    tier_seconds,
)

POLICY = RetryPolicy(("5s", "1m", "10m"), retry_after_cap_seconds=300)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.SUCCESS),
        (204, Verdict.SUCCESS),
        (299, Verdict.SUCCESS),
        (410, Verdict.GONE),
        (0, Verdict.RETRY),
        (301, Verdict.RETRY),
        (400, Verdict.RETRY),
        (404, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_classify(status, verdict):
    """Status codes map to success, gone or retry."""
    assert classify(status) is verdict


def test_tiers_parse():
    """Tier names are a positive number and a unit."""
    assert [tier_seconds(t) for t in ("500ms", "5s", "1m", "2h")] == [0.5, 5, 60, 7200]
    for bad in ("", "5", "0s", "5d", "-1s", "1.5s"):
        with pytest.raises(ValueError):
            tier_seconds(bad)


def test_shrinking_tiers_are_refused():
    """A schedule must not get shorter."""
    with pytest.raises(ValueError):
        RetryPolicy(("1m", "5s"))


def test_failures_walk_every_tier_then_die():
    """Attempt n failing goes to tier n; the attempt after the last tier is dead."""
    steps = [POLICY.after_attempt(n, 500) for n in (1, 2, 3, 4)]
    assert [(s.next, s.tier, s.delay_seconds) for s in steps[:3]] == [
        (Next.RETRY, "5s", 5),
        (Next.RETRY, "1m", 60),
        (Next.RETRY, "10m", 600),
    ]
    assert steps[3].next is Next.DEAD


def test_success_and_gone():
    """2xx succeeds at any attempt; 410 is dead at once."""
    assert POLICY.after_attempt(3, 201).next is Next.SUCCEEDED
    gone = POLICY.after_attempt(1, 410)
    assert gone.next is Next.DEAD and "410" in gone.reason


def test_retry_after_is_honoured_in_the_first_tier_long_enough():
    """429 with Retry-After waits at least as asked (capped), exactly as long as a tier: a
    tier's records fall due in the order written, so none holds back another tenant's."""
    step = POLICY.after_attempt(1, 429, retry_after=59)
    assert (step.tier, step.delay_seconds) == ("1m", 60)
    longer = POLICY.after_attempt(1, 429, retry_after=90)
    assert (longer.tier, longer.delay_seconds) == ("10m", 600)
    capped = POLICY.after_attempt(1, 503, retry_after=100_000)  # the cap (300 s) is in 10m
    assert (capped.tier, capped.delay_seconds) == ("10m", 600)
    short = POLICY.after_attempt(2, 503, retry_after=1)  # never an earlier tier
    assert (short.tier, short.delay_seconds) == ("1m", 60)
    beyond = RetryPolicy(("5s", "1m"), retry_after_cap_seconds=600).after_attempt(1, 429, 600)
    assert (beyond.tier, beyond.delay_seconds) == ("1m", 60)  # the last tier at most


@given(
    attempt=st.integers(min_value=1, max_value=3),
    retry_after=st.one_of(st.none(), st.floats(min_value=-10, max_value=10**6)),
)
def test_every_retry_waits_exactly_its_tiers_delay(attempt: int, retry_after: float | None):
    step = POLICY.after_attempt(attempt, 503, retry_after)
    assert step.delay_seconds == tier_seconds(step.tier)
    assert POLICY.tiers.index(step.tier) >= attempt - 1


def test_retry_after_is_ignored_for_other_statuses():
    """A 500's Retry-After does not change the schedule."""
    step = POLICY.after_attempt(1, 500, retry_after=90)
    assert (step.tier, step.delay_seconds) == ("5s", 5)


def test_parse_retry_after():
    """Delta seconds and HTTP dates both parse; garbage is None."""
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now) == 30
    assert parse_retry_after("soon", now) is None
    for unicode_digits in ("\u00b2", "\u0661\u0662", "\uff11"):  # digits float() refuses
        assert parse_retry_after(unicode_digits, now) is None
    assert parse_retry_after(None, now) is None


def test_deferral_stays_in_its_tier():
    """A saturated endpoint's delivery waits in the tier its next failure would use."""
    assert POLICY.deferral(0).tier == "5s"
    assert POLICY.deferral(2).tier == "1m"
    assert POLICY.deferral(9).tier == "10m"


def test_a_delivery_deferred_again_moves_to_the_next_tier():
    """An endpoint kept busy (by its tenant's own low rate limit and a flood of events) must
    not make its deliveries cycle the first tier forever, each pass a record on a topic every
    tenant shares: deferred again from a tier, a delivery goes to the next one."""
    tier, seen = "", []
    for _ in range(6):
        step = POLICY.deferral(0, after_tier=tier)
        seen.append(step.tier)
        tier = step.tier
    assert seen == ["5s", "1m", "10m", "10m", "10m", "10m"]
    assert POLICY.deferral(3, after_tier="5s").tier == "10m"  # its attempts' tier, if later
    assert POLICY.deferral(0, after_tier="2h").tier == "5s"  # a tier no longer configured


@given(
    attempt=st.integers(0, 20),
    after=st.sampled_from(["", "5s", "1m", "10m", "7s"]),
)
def test_a_deferral_never_goes_back_nor_ends_a_delivery(attempt: int, after: str):
    step = POLICY.deferral(attempt, after_tier=after)
    assert step.next is Next.RETRY
    assert step.delay_seconds == tier_seconds(step.tier)
    if after in POLICY.tiers:
        order = POLICY.tiers.index
        assert order(step.tier) >= min(order(after) + 1, len(POLICY.tiers) - 1)
