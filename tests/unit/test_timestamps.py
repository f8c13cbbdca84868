"""set_timestamp agrees with protobuf's own FromDatetime for every aware datetime; a request's
Timestamp that no datetime holds is the caller's error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from behalf.common.errors import InvalidArgument
from behalf.common.timestamps import read_timestamp, set_timestamp
from behalf.v1 import dispatcher_pb2

_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_ZONES)
)
def test_equals_from_datetime(moment: datetime) -> None:
    expected, actual = Timestamp(), Timestamp()
    expected.FromDatetime(moment)
    set_timestamp(actual, moment)
    assert actual == expected


def test_the_second_before_and_after_the_epoch() -> None:
    for moment in (
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 12, 5, 7, 30, 0, 999_999, tzinfo=UTC),
    ):
        expected, actual = Timestamp(), Timestamp()
        expected.FromDatetime(moment)
        set_timestamp(actual, moment)
        assert (actual.seconds, actual.nanos) == (expected.seconds, expected.nanos)


@pytest.mark.parametrize(("seconds", "nanos"), [(2**40, 0), (-(2**40), 0), (0, -1), (0, 10**9)])
def test_a_timestamp_no_datetime_holds_is_invalid_argument_on_its_field(
    seconds: int, nanos: int
) -> None:
    """Read from a request, a Timestamp past year 9999 or with nanos out of range is the
    caller's error naming the field (ToDatetime's ValueError was INTERNAL in the dispatcher)."""
    request = dispatcher_pb2.ListDeliveriesRequest()
    request.start_time.seconds, request.start_time.nanos = seconds, nanos
    with pytest.raises(InvalidArgument) as refused:
        read_timestamp(request, "start_time")
    assert refused.value.field == "start_time"
    assert read_timestamp(request, "end_time") is None
    request.start_time.seconds, request.start_time.nanos = 0, 5000
    assert read_timestamp(request, "start_time") == datetime(1970, 1, 1, 0, 0, 0, 5, tzinfo=UTC)
