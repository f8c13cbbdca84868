"""Backoff doubles to its cap and resets; a BackgroundTask starts once and stops cleanly."""

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from behalf.common.background import BackgroundTask, Backoff, every


@given(
    first=st.floats(min_value=0.001, max_value=10),
    factor=st.floats(min_value=1, max_value=100),
    failures=st.integers(min_value=0, max_value=40),
)
def test_backoff_doubles_up_to_the_cap_and_resets(first: float, factor: float, failures: int):
    backoff = Backoff(first=first, cap=first * factor)
    delays = [backoff.failed() for _ in range(failures)]
    for earlier, later in itertools.pairwise(delays):
        assert later == min(earlier * 2, backoff.cap)
    assert all(first <= d <= backoff.cap for d in delays)
    backoff.reset()
    assert backoff.delay == first


@pytest.mark.parametrize(("first", "cap"), [(0, 1), (-1, 1), (2, 1)])
def test_backoff_refuses_a_nonsense_range(first: float, cap: float):
    with pytest.raises(ValueError, match="first"):
        Backoff(first=first, cap=cap)


async def test_background_task_runs_until_stopped_and_stops_once():
    ticks = 0
    stopped = asyncio.Event()

    async def body() -> None:
        nonlocal ticks
        try:
            while True:
                ticks += 1
                await asyncio.sleep(0)
        finally:
            stopped.set()

    task = BackgroundTask("ticker", body)
    task.start()
    with pytest.raises(RuntimeError, match="already running"):
        task.start()
    await asyncio.sleep(0.01)
    assert task.running and ticks > 0
    await task.stop()
    assert stopped.is_set() and not task.running
    await task.stop()  # stopping twice is harmless


async def test_background_task_that_failed_is_not_running_and_stop_does_not_raise():
    async def body() -> None:
        raise OSError("gone")

    task = BackgroundTask("failing", body)
    task.start()
    await asyncio.sleep(0.01)
    assert not task.running
    await task.stop()


async def test_every_runs_its_step_again_after_a_failure_and_logs_it():
    """A periodic step that fails (its database away) is logged by type and tried again at the
    next round; the loop never ends on its own."""
    rounds: list[int] = []
    logged: list[tuple[str, dict]] = []

    class Log:
        def warning(self, event: str, **fields: object) -> None:
            logged.append((event, fields))

    four_rounds = asyncio.Event()

    async def step() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise ConnectionError("away")
        if len(rounds) == 4:
            four_rounds.set()

    task = BackgroundTask("periodic", every(0.001, step, Log(), "step_failed"))
    task.start()
    await asyncio.wait_for(four_rounds.wait(), timeout=10)
    assert task.running
    await task.stop()
    assert logged == [("step_failed", {"error": "ConnectionError"})]
