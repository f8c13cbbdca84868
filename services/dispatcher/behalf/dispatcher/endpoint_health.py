"""Endpoint health: when every attempt to an endpoint has failed for a whole window, give up.

Pure and per process: each dispatcher replica watches the attempts it makes. An endpoint is
judged failing once its attempts have all failed for `window_seconds` and at least
`min_failures` of them were made; any success starts it over. The caller then disables the
endpoint through the registry (which emits `webhook.endpoint_disabled`); re-enabling it there
clears the record here too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Streak:
    since: float
    failures: int


class EndpointHealth:
    """Failure streaks per endpoint; `window_seconds <= 0` turns the check off."""

    def __init__(self, window_seconds: float, min_failures: int = 5) -> None:
        self._window = window_seconds
        self._min_failures = min_failures
        self._streaks: dict[str, _Streak] = {}

    def record(self, endpoint_id: str, succeeded: bool, now: float) -> bool:
        """Note one attempt; True exactly once, when the endpoint has just become failing."""
        if self._window <= 0:
            return False
        if succeeded:
            self._streaks.pop(endpoint_id, None)
            return False
        streak = self._streaks.setdefault(endpoint_id, _Streak(since=now, failures=0))
        streak.failures += 1
        if streak.failures >= self._min_failures and now - streak.since >= self._window:
            del self._streaks[endpoint_id]
            return True
        return False

    def forget(self, endpoint_id: str) -> None:
        """The endpoint was re-enabled or changed: start over."""
        self._streaks.pop(endpoint_id, None)
