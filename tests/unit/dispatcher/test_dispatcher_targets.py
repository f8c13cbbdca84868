"""Which endpoints an event goes to (test-mode decisions only to endpoints that name them), and
which secrets sign for them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from behalf.dispatcher.targets import Target, _overlap_end
from behalf.v1 import resources_pb2


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


def test_the_previous_secret_stops_signing_when_its_overlap_ends():
    """A target cached during a rotation (for up to a minute) still drops the previous secret
    the moment its overlap ends: a retired secret signs nothing."""
    rotating = replace(
        _target(secrets=("whsec_new", "whsec_old")), previous_secret_expires_at=1_000.0
    )
    assert rotating.signing_secrets(999.9) == ("whsec_new", "whsec_old")
    assert rotating.signing_secrets(1_000.0) == ("whsec_new",)
    assert _target(secrets=("whsec_new",)).signing_secrets(10**10) == ("whsec_new",)


def test_the_registry_endpoints_overlap_end_reaches_the_target():
    """The overlap end is read from the endpoint the registry lists, to the microsecond."""
    endpoint = resources_pb2.WebhookEndpoint(endpoint_id="whe_1")
    assert _overlap_end(endpoint) is None
    endpoint.previous_secret_expire_time.seconds = 1_000
    endpoint.previous_secret_expire_time.nanos = 500_000_000
    assert _overlap_end(endpoint) == 1_000.5
