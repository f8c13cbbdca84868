"""A circuit breaker per endpoint: after a run of failures, stop sending until a probe succeeds.

    closed ──`threshold` failures in a row──▶ open ──cooldown over──▶ half-open (one probe)
      ▲                                         ▲                         │
      └──────────── the probe succeeds ─────────┴──── the probe fails ────┘ (cooldown doubles)

Pure and per process. While an endpoint's breaker is not closed its deliveries are parked in a
retry tier without an attempt (no attempt is counted, so a broken endpoint never kills them;
`EndpointHealth` disables an endpoint that fails for a whole day).
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass
class Breaker:
    """One endpoint's breaker; `now` is a monotonic clock in seconds."""

    threshold: int = 5
    cooldown_seconds: float = 5.0
    max_cooldown_seconds: float = 60.0
    failures: int = 0
    state: str = CLOSED
    open_until: float = 0.0
    _cooldown: float = 0.0
    _probing: bool = False

    def allow(self, now: float) -> bool:
        """May an attempt go now? In half-open state only one probe at a time."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and now >= self.open_until:
            self.state = HALF_OPEN
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def blocked(self, now: float) -> bool:
        """No attempt may go now: open and cooling down, or half-open with its probe out."""
        if self.state == OPEN:
            return now < self.open_until
        return self.state == HALF_OPEN and self._probing

    def remaining(self, now: float) -> float:
        """Seconds until the next probe may go (0 when closed)."""
        return 0.0 if self.state == CLOSED else max(self.open_until - now, 0.0)

    def record(self, succeeded: bool, now: float) -> None:
        """Note how one attempt ended."""
        if succeeded:
            self.state, self.failures, self._cooldown, self._probing = CLOSED, 0, 0.0, False
            return
        self.failures += 1
        if self.state == HALF_OPEN or (self.state == CLOSED and self.failures >= self.threshold):
            self._cooldown = (
                min(self._cooldown * 2, self.max_cooldown_seconds)
                if self._cooldown
                else self.cooldown_seconds
            )
            self.state, self.open_until, self._probing = OPEN, now + self._cooldown, False
