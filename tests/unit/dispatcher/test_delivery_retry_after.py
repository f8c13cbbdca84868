"""A webhook receiver's `Retry-After` header never makes an attempt raise: the receiver is
chosen by a tenant admin, who is untrusted toward the dispatcher and other tenants."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest

from behalf.dispatcher.delivery import DeliverySettings, HttpDeliverer
from behalf.dispatcher.retry_policy import parse_retry_after

HOST = "hooks.example.test"
SETTINGS = DeliverySettings(
    total_timeout_seconds=5.0, connect_timeout_seconds=5.0, allow_private_targets=True
)
# An HTTP date whose year no datetime can hold: email.utils.parsedate_to_datetime raises
# OverflowError (not ValueError) for it.
HUGE_YEAR = "Fri, 01 Jan 99999999999999999999 00:00:00 GMT"


@pytest.mark.parametrize(
    "header",
    [
        HUGE_YEAR,
        "01 Jan 99999999999999999999 00:00:00 +0000",
        "Mon, 1 Jan 9" + "9" * 30 + " 0:0:0 GMT",
    ],
)
def test_parse_retry_after_never_raises_on_a_receivers_date(header: str) -> None:
    """Attack: the tenant's receiver answers 429/503 with `Retry-After` set to an HTTP date in
    the year 10^20. `parse_retry_after` catches TypeError/ValueError/IndexError only, so the
    OverflowError from building that datetime escapes. Safe: unusable means None."""
    assert parse_retry_after(header, datetime.now(UTC)) is None


async def _resolve(host: str, port: int, tenant_id: str) -> Sequence[str]:
    return ["127.0.0.1"]


@contextlib.asynccontextmanager
async def _receiver(response: bytes) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(response)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.mark.parametrize("status", [429, 503])
async def test_a_throttle_with_an_absurd_retry_after_is_an_outcome_not_an_exception(
    status: int,
) -> None:
    """Attack: a tenant admin's endpoint answers `503` + `Retry-After: <year 10^20>`. The
    OverflowError escapes `HttpDeliverer.post`, so `Pipeline.attempt` writes no outcome: the
    lane logs `delivery_worker_failed`, the row stays `pending`, the breaker never counts a
    failure, and reclaim re-POSTs it every `reclaim_after` forever (never retried by tier, never
    dead, no attempt recorded; a flood of such rows fills every reclaim pass, LIMIT 1000, that
    other tenants' orphaned deliveries also wait for). Safe: post() returns the 503 outcome."""
    response = (
        f"HTTP/1.1 {status} Busy\r\nretry-after: {HUGE_YEAR}\r\n"
        "content-length: 0\r\nconnection: close\r\n\r\n"
    ).encode()
    async with _receiver(response) as port:
        http = HttpDeliverer(SETTINGS, resolver=_resolve)
        try:
            outcome = await http.post(f"http://{HOST}:{port}/hook", {}, b"{}")
        finally:
            await http.close()
    assert outcome.status_code == status
    assert outcome.error == f"HTTP {status}"
