"""Small conversions shared by the store modules."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from google.protobuf import timestamp_pb2

from behalf.v1 import common_pb2

# A connection of its own or one borrowed from a pool: what a transaction runs on.
Connection = asyncpg.Connection | PoolConnectionProxy
# Anything that runs a single statement.
Executor = Connection | asyncpg.Pool


def set_time(target: timestamp_pb2.Timestamp, value: datetime | None) -> None:
    """Copy a timestamptz into a Timestamp field, leaving it unset for NULL."""
    if value is not None:
        target.FromDatetime(value)


def set_money(target: common_pb2.Money, amount: int | None, currency: str | None) -> None:
    """Copy an (amount, currency) column pair into a Money field, leaving it unset for NULL."""
    if amount is not None and currency is not None:
        target.amount_minor = amount
        target.currency = currency


def one(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row a statement that always returns one (INSERT … RETURNING) returned."""
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row
