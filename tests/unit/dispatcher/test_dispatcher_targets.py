"""Which endpoints an event goes to: test-mode decisions only to endpoints that name them."""

from __future__ import annotations

import pytest

from behalf.dispatcher.targets import Target


def _target(*event_types: str, disabled: bool = False, secrets=("whsec_a",)) -> Target:
    return Target("whe_1", "ten_1", "https://hooks.example.com", event_types, disabled, secrets)


@pytest.mark.parametrize(
    ("filters", "event_type", "expected"),
    [
        ((), "verification.allowed", True),
        ((), "verification.test.allowed", False),
        (("*",), "verification.test.denied", False),
        (("verification.*",), "verification.test.allowed", False),
        (("verification.*",), "verification.allowed", True),
        (("verification.allowed",), "verification.test.allowed", False),
        (("verification.test.allowed",), "verification.test.allowed", True),
        (("verification.test.allowed",), "verification.test.denied", False),
        (("verification.test.allowed",), "verification.allowed", False),
        (("verification.test.*",), "verification.test.approval_required", True),
        (("verification.test.*",), "verification.denied", False),
        (("*", "verification.test.denied"), "verification.test.denied", True),
        (("*", "verification.test.denied"), "verification.test.allowed", False),
        (("*", "verification.test.denied"), "agent.created", True),
    ],
)
def test_filters_select_test_types_only_by_name(filters, event_type, expected):
    """An empty filter, `*` or `verification.*` never selects a test type; a
    `verification.test.` filter selects exactly what it names."""
    assert _target(*filters).wants(event_type) is expected


def test_disabled_or_secretless_endpoint_wants_nothing():
    """A disabled endpoint, or one without a signing secret, receives no event at all."""
    assert not _target("verification.test.*", disabled=True).wants("verification.test.allowed")
    assert not _target(secrets=()).wants("agent.created")
