"""BEHALF_EVENT_LOOP: which loop a service process runs on, and a clear error for anything else."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from behalf.common.config import ConfigError, Env
from behalf.common.runner import run_on
from behalf.common.settings import HostSettings


def host(env: dict[str, str]) -> HostSettings:
    return HostSettings.from_env(
        Env(env),
        default_grpc_port=50051,
        default_metrics_port=9100,
        default_max_receive_bytes=1 << 20,
        default_max_concurrent_rpcs=100,
    )


async def loop_kind() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_services_run_on_uvloop_unless_told_otherwise() -> None:
    assert host({}).event_loop == "uvloop"
    assert host({"BEHALF_EVENT_LOOP": " AsyncIO "}).event_loop == "asyncio"
    assert issubclass(run_on(host({}).event_loop, loop_kind()), uvloop.Loop)
    on_asyncio = run_on("asyncio", loop_kind())
    assert issubclass(on_asyncio, asyncio.BaseEventLoop)
    assert not issubclass(on_asyncio, uvloop.Loop)


@pytest.mark.parametrize("value", ["trio", "uv", "asyncio,uvloop"])
def test_an_unknown_loop_is_a_configuration_error(value: str) -> None:
    with pytest.raises(ConfigError, match="BEHALF_EVENT_LOOP"):
        host({"BEHALF_EVENT_LOOP": value})
