"""Crash safety: SIGKILL the dispatcher process mid-run; after restarts every event arrives."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time

import asyncpg
import pytest

from tests.integration.dispatcher.conftest import decision_event, dispatcher_env, publish

pytestmark = pytest.mark.integration

EVENTS = 1000


def _append(log_path):
    return open(log_path, "ab")  # the child process writes to it


async def start_process(env: dict[str, str], log_path) -> asyncio.subprocess.Process:
    log = _append(log_path)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "behalf.dispatcher",
        env={**os.environ, **env},
        stdout=log,
        stderr=log,
    )


async def test_sigkill_at_random_points_loses_nothing(
    dispatcher_db, kafka_bootstrap, prefix, registry, receiver, producer, tmp_path
):
    """1,000 events, two SIGKILLs during delivery: each event is received, each delivery ends."""
    rng = random.Random(5)
    failed_once: set[str] = set()

    async def sometimes_failing(request, _n):
        # 5% of deliveries fail their first attempt, so retries run through the kills; none
        # fails twice, or with three attempts one in ~8 runs would end a delivery dead.
        await asyncio.sleep(rng.random() * 0.01)
        webhook_id = request.headers["webhook-id"]
        if webhook_id not in failed_once and rng.random() < 0.05:
            failed_once.add(webhook_id)
            return 500, {}
        return 200, {}

    receiver.behaviours["/crash"] = sometimes_failing
    registry.add(receiver.url("/crash"))
    env = dispatcher_env(dispatcher_db, kafka_bootstrap, prefix, registry.port)
    log_path = tmp_path / "dispatcher.log"
    events = [decision_event() for _ in range(EVENTS)]
    expected = {e.event_id for e in events}

    def received_ids() -> set[str]:
        return {json.loads(r.body)["data"]["event_id"] for r in receiver.on("/crash")}

    process = await start_process(env, log_path)
    for event in events:
        await publish(producer, f"{prefix}.decisions", event, "verification.denied")
    kills = 0
    for threshold in (150, 500):
        await receiver.wait_for(
            lambda t=threshold: len(receiver.on("/crash")) >= t, within=120, what="progress"
        )
        await asyncio.sleep(rng.random() * 0.3)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        kills += 1
        process = await start_process(env, log_path)
    try:
        await receiver.wait_for(lambda: received_ids() >= expected, within=180, what="every event")
        deadline = time.monotonic() + 60
        conn = await asyncpg.connect(dispatcher_db)
        try:
            while True:
                states = dict(
                    await conn.fetch(
                        "SELECT state, count(*) FROM dispatcher.deliveries GROUP BY state"
                    )
                )
                if states.get("succeeded") == EVENTS or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            webhook_ids = {
                r["webhook_id"]
                for r in await conn.fetch("SELECT webhook_id FROM dispatcher.deliveries")
            }
        finally:
            await conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert kills == 2
    assert received_ids() == expected
    assert states == {"succeeded": EVENTS}, states
    assert {r.headers["webhook-id"] for r in receiver.on("/crash")} == webhook_ids
    assert len(webhook_ids) == EVENTS


async def test_a_retry_under_way_when_killed_is_delivered_after_restart(
    dispatcher_db, kafka_bootstrap, prefix, registry, receiver, producer, tmp_path
):
    """A delivery whose first attempt failed is killed during its retry (the retry task's
    offset already committed): it is pending again, so the next process reclaims it and it
    succeeds, with the same webhook-id."""
    answers = {"n": 0}
    retrying = asyncio.Event()

    async def fail_then_hang_then_ok(_request, _n):
        answers["n"] += 1
        if answers["n"] == 1:
            return 500, {}
        if answers["n"] == 2:
            retrying.set()
            await asyncio.sleep(3600)  # the retry hangs until the process is killed
        return 200, {}

    receiver.behaviours["/retry"] = fail_then_hang_then_ok
    registry.add(receiver.url("/retry"))
    env = dispatcher_env(
        dispatcher_db,
        kafka_bootstrap,
        prefix,
        registry.port,
        BEHALF_WEBHOOK_TIMEOUT_SECONDS="60",
        BEHALF_WEBHOOK_RECLAIM_AFTER_SECONDS="2",
    )
    log_path = tmp_path / "dispatcher.log"
    process = await start_process(env, log_path)
    try:
        event = decision_event()
        await publish(producer, f"{prefix}.decisions", event, "verification.denied")
        await asyncio.wait_for(retrying.wait(), 60)
        await asyncio.sleep(1.5)  # the retry task's offset is committed meanwhile
        process.send_signal(signal.SIGKILL)
        await process.wait()
        process = await start_process(env, log_path)
        await receiver.wait_for(lambda: answers["n"] >= 3, within=60, what="the retry again")
        conn = await asyncpg.connect(dispatcher_db)
        try:
            for _ in range(100):
                row = await conn.fetchrow("SELECT state, webhook_id FROM dispatcher.deliveries")
                if row is not None and row["state"] == "succeeded":
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert row is not None and row["state"] == "succeeded"
    assert {r.headers["webhook-id"] for r in receiver.on("/retry")} == {row["webhook_id"]}
