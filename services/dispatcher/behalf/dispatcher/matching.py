"""Which endpoints want which event types: exact names, `prefix.*`, or everything."""

from __future__ import annotations

from collections.abc import Iterable


def _covers(pattern: str, event_type: str) -> bool:
    if pattern == "*" or pattern == event_type:
        return True
    if pattern.endswith(".*"):
        prefix = pattern[:-1]  # "agent." keeps the label boundary
        return len(event_type) > len(prefix) and event_type.startswith(prefix)
    return False


def type_matches(filters: Iterable[str], event_type: str) -> bool:
    """True when the filter list is empty, names the type, or has a `prefix.*` covering it.

    `agent.*` covers `agent.created` and `agent.x.y` but not `agent` or `agents.created`; a lone
    `*` covers everything. Matching is exact and case-sensitive otherwise.
    """
    patterns = list(filters)
    return not patterns or any(_covers(p, event_type) for p in patterns)
