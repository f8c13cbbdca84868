"""Event-type filters: empty means all, exact names, and `prefix.*` label-boundary prefixes."""

from __future__ import annotations

import pytest

from behalf.dispatcher.matching import type_matches


@pytest.mark.parametrize(
    ("filters", "event_type", "expected"),
    [
        ([], "agent.created", True),
        (["agent.created"], "agent.created", True),
        (["agent.created"], "agent.disabled", False),
        (["agent.*"], "agent.disabled", True),
        (["agent.*"], "agent.x.y", True),
        (["agent.*"], "agent", False),
        (["agent.*"], "agent.", False),
        (["agent.*"], "agents.created", False),
        (["agent.*"], "permission.granted", False),
        (["*"], "verification.denied", True),
        (["verification.denied", "agent.*"], "agent.enabled", True),
        (["Agent.created"], "agent.created", False),
        (["agent"], "agent.created", False),
    ],
)
def test_filter_cases(filters, event_type, expected):
    """Each filter list matches exactly the event types it names."""
    assert type_matches(filters, event_type) is expected
