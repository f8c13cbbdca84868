"""What follows an attempt: success, the next retry tier and its delay, or dead."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

_TIER = re.compile(r"^([1-9][0-9]*)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
GONE_STATUS = 410
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})


class Verdict(enum.Enum):
    """How one HTTP attempt ended."""

    SUCCESS = "success"
    GONE = "gone"
    RETRY = "retry"


class Next(enum.Enum):
    """What the delivery does next."""

    SUCCEEDED = "succeeded"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True)
class Step:
    """The decision after an attempt: `tier` and `delay_seconds` are set only for RETRY."""

    next: Next
    tier: str = ""
    delay_seconds: float = 0.0
    reason: str = ""


def tier_seconds(tier: str) -> float:
    """`500ms`, `5s`, `1m`, `10m`, `1h` as seconds; ValueError for anything else."""
    match = _TIER.fullmatch(tier)
    if not match:
        raise ValueError(f"retry tier {tier!r} must look like 5s, 1m or 1h")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def classify(status_code: int) -> Verdict:
    """2xx succeeds, 410 means the endpoint is gone, everything else (and 0: no answer) retries."""
    if 200 <= status_code < 300:
        return Verdict.SUCCESS
    if status_code == GONE_STATUS:
        return Verdict.GONE
    return Verdict.RETRY


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from `Retry-After` (delta-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() alone takes "²", which float() refuses
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # a year no datetime holds
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Delay tiers in order; after an attempt that failed in the last tier the delivery is dead.

    A delivery gets `len(tiers) + 1` attempts per cycle (a redrive starts a new cycle).
    `Retry-After` on 429/502/503/504 is honoured up to `retry_after_cap_seconds`: the retry
    goes to the first tier (never an earlier one than the attempt's own) whose delay is at
    least the requested wait, or the last, and waits exactly that tier's delay. A tier topic's
    records then fall due in the order they were written, so a consumer that waits for the
    first record of a partition never holds back the others behind it (the partitions are
    shared by tenants); the endpoint waits at least as long as asked, or the last tier's delay.
    """

    tiers: tuple[str, ...]
    retry_after_cap_seconds: float = 600.0

    def __post_init__(self) -> None:
        delays = [tier_seconds(t) for t in self.tiers]
        if delays != sorted(delays):
            raise ValueError("retry tiers must not get shorter")

    def delays(self) -> tuple[float, ...]:
        return tuple(tier_seconds(t) for t in self.tiers)

    def after_attempt(
        self, attempt_in_cycle: int, status_code: int, retry_after: float | None = None
    ) -> Step:
        """The step after the `attempt_in_cycle`-th attempt (1-based) answered `status_code`."""
        verdict = classify(status_code)
        if verdict is Verdict.SUCCESS:
            return Step(Next.SUCCEEDED)
        if verdict is Verdict.GONE:
            return Step(Next.DEAD, reason="endpoint answered 410 Gone")
        index = attempt_in_cycle - 1
        if index >= len(self.tiers):
            return Step(Next.DEAD, reason=f"gave up after {attempt_in_cycle} attempts")
        delays = self.delays()
        if status_code in THROTTLE_STATUSES and retry_after is not None:
            wanted = min(max(retry_after, 0.0), self.retry_after_cap_seconds)
            while index + 1 < len(delays) and delays[index] < wanted:
                index += 1
        return Step(Next.RETRY, tier=self.tiers[index], delay_seconds=delays[index])

    def deferral(self, attempt_in_cycle: int, after_tier: str = "") -> Step:
        """Where a delivery goes without an attempt (its endpoint is saturated): the tier its
        next failure would use, or the first; and when it comes from a tier (`after_tier`),
        the next one. A delivery is never dead for being deferred, however often: at the last
        tier it waits that tier's delay each time."""
        index = max(attempt_in_cycle - 1, 0)
        if after_tier in self.tiers:
            index = max(index, self.tiers.index(after_tier) + 1)
        index = min(index, len(self.tiers) - 1)
        return Step(Next.RETRY, tier=self.tiers[index], delay_seconds=self.delays()[index])
