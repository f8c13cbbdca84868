"""Protobuf Timestamps: from aware datetimes on the hot path, and read from requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from behalf.common.errors import InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def set_timestamp(target: Timestamp, moment: datetime) -> None:
    """`target.FromDatetime(moment)` for an aware `moment` in a third of its time (exact
    timedelta arithmetic in C instead of protobuf's pure-Python conversion): Verify stamps
    every decision."""
    seconds, rest = divmod(moment - _EPOCH, _SECOND)
    target.seconds = seconds
    target.nanos = rest.microseconds * 1000


def read_timestamp(message: Message, field: str) -> datetime | None:
    """`message.<field>` as an aware datetime, None when unset; InvalidArgument naming the field
    when no datetime can hold it (seconds past year 9999, nanos out of range)."""
    if not message.HasField(field):
        return None
    value: Timestamp = getattr(message, field)
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument(field, "is out of range") from None
