"""set_timestamp agrees with protobuf's own FromDatetime for every aware datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from behalf.common.timestamps import set_timestamp

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
