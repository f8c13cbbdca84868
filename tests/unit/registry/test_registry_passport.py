"""The registry's passport signing: a bounded `valid_for` becomes a signed `expires_at`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.duration_pb2 import Duration

from behalf.common.errors import InvalidArgument
from behalf.registry import passport
from behalf.registry.passport import PassportSigner
from behalf.v1 import resources_pb2

ISSUED = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_unset_or_zero_validity_means_one_hour() -> None:
    """An unset (or zero) `valid_for` is the one-hour default."""
    assert passport.validity(Duration()) == timedelta(hours=1)
    assert passport.DEFAULT_VALIDITY == timedelta(hours=1)


def test_validity_up_to_seven_days_is_kept() -> None:
    """A `valid_for` from a second to exactly seven days is used as given."""
    assert passport.validity(Duration(seconds=1)) == timedelta(seconds=1)
    assert passport.validity(Duration(seconds=7 * 86400)) == timedelta(days=7)


@pytest.mark.parametrize(
    "value",
    [
        Duration(seconds=7 * 86400, nanos=1),
        Duration(seconds=30 * 86400),
        Duration(seconds=-1),
        Duration(nanos=999),
    ],
)
def test_out_of_range_validity_is_invalid_argument(value: Duration) -> None:
    """Longer than seven days, negative or under a second is InvalidArgument on `valid_for`."""
    with pytest.raises(InvalidArgument) as raised:
        passport.validity(value)
    assert raised.value.field == "valid_for"


def test_signed_document_carries_expires_at() -> None:
    """The signed body holds `expires_at` = `issued_at` + `valid_for`, in UTC with a Z."""
    agent = resources_pb2.Agent(agent_id="agt_1", tenant_id="ten_1")
    signer = PassportSigner(bytes(32))
    body = json.loads(signer.sign(agent, [], revision=1, issued_at=ISSUED).document)
    assert (body["issued_at"], body["expires_at"]) == (
        "2025-01-01T12:00:00Z",
        "2025-01-01T13:00:00Z",
    )
    week = signer.sign(agent, [], revision=1, issued_at=ISSUED, valid_for=timedelta(days=7))
    assert json.loads(week.document)["expires_at"] == "2025-01-08T12:00:00Z"
