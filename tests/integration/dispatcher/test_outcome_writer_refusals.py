"""A delivery outcome PostgreSQL refuses holds up no other: the writer halves the batch until
the refused write stands alone, stores it without the endpoint's text (or, if even that is
refused, not at all) and goes on (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import pytest

from behalf.dispatcher import metrics
from behalf.dispatcher.attempts import AttemptOutcome
from behalf.dispatcher.batch_store import AttemptWrite, BatchStore, ParkWrite
from behalf.dispatcher.payloads import WebhookMessage
from behalf.dispatcher.store import DeliveryRow
from behalf.dispatcher.tasks import Headers
from behalf.dispatcher.writer import OutcomeWriter
from behalf.v1 import events_pb2

pytestmark = pytest.mark.integration

TENANT, ENDPOINT = "ten_refusals", "whe_refusals"


class NoTasks:
    """These writes enqueue nothing, so nothing may reach the task topics."""

    async def send(
        self, topic: str, items: Sequence[tuple[events_pb2.DeliveryTask, Headers]]
    ) -> None:
        raise AssertionError(f"unexpected tasks for {topic}")


def failed(row: DeliveryRow, error: str, body: str = "") -> AttemptWrite:
    outcome = AttemptOutcome(datetime.now(UTC), 500, 0.01, error, body)
    return AttemptWrite(row, outcome, "retrying", datetime.now(UTC))


def refused(stored: str) -> float:
    return metrics.REFUSED_WRITES.labels(stored)._value.get()


async def test_a_refused_outcome_holds_up_no_other(pool: asyncpg.Pool) -> None:
    batches = BatchStore(pool)
    messages = [
        WebhookMessage(f"evt_refusal_{n}", TENANT, "verification.allowed", b"{}") for n in range(8)
    ]
    rows = sorted(
        await batches.create_for_events([(m, [ENDPOINT]) for m in messages]),
        key=lambda r: r.event_id,
    )
    writer = OutcomeWriter(batches, NoTasks(), linger=0.05)
    without_text, dropped = refused("without_text"), refused("dropped")
    # A NUL (PostgreSQL's text cannot hold one) in the error, in the response body, in a park's
    # reason; and a state the table's CHECK refuses, which no text can fix.
    writes: list[AttemptWrite | ParkWrite] = [failed(row, "HTTP 500") for row in rows[:4]]
    writes += [
        failed(rows[4], "bad\x00error"),
        failed(rows[5], "HTTP 500", "body\x00"),
        ParkWrite(rows[6], "retrying", datetime.now(UTC), "reason\x00"),
        ParkWrite(rows[7], "lost", None, "a state no delivery has"),
    ]
    futures = [writer.submit(w, None, "retried") for w in writes]
    writer.start()
    try:
        async with asyncio.timeout(30):  # before: retried forever, nothing written
            results = [await f for f in futures]
        assert results == [True] * 7 + [False]
        stored = {
            r["event_id"]: r
            for r in await pool.fetch(
                "SELECT event_id, state, attempt_count, last_error FROM deliveries"
                " WHERE endpoint_id = $1",
                ENDPOINT,
            )
        }
        for row in rows[:4]:
            assert stored[row.event_id]["last_error"] == "HTTP 500"
            assert stored[row.event_id]["attempt_count"] == 1
        for row in rows[4:7]:
            assert stored[row.event_id]["state"] == "retrying"
            assert "could not be stored" in stored[row.event_id]["last_error"]
        assert [stored[row.event_id]["attempt_count"] for row in rows[4:7]] == [1, 1, 0]
        assert stored[rows[7].event_id]["state"] == "pending"  # open: reclaim offers it again
        assert (refused("without_text"), refused("dropped")) == (without_text + 3, dropped + 1)
        # The writer goes on.
        fresh = await batches.create_for_events(
            [
                (
                    WebhookMessage("evt_refusal_after", TENANT, "verification.allowed", b"{}"),
                    [ENDPOINT],
                )
            ]
        )
        assert await writer.submit(failed(fresh[0], "HTTP 502"), None, "retried")
    finally:
        await writer.stop()
