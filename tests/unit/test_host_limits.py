"""The receive-size and concurrency limits each service's host is configured with."""

from __future__ import annotations

import base64

import pytest

from behalf.common.config import ConfigError, Env
from behalf.common.settings import HostSettings
from behalf.dispatcher.settings import DispatcherSettings
from behalf.registry.settings import RegistrySettings
from behalf.verifier.settings import VerifierSettings

MIB = 1024 * 1024
BASE_ENV = {
    "BEHALF_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "BEHALF_DATABASE_URL": "postgresql://localhost/behalf",
    "BEHALF_VERIFIER_TOKEN": "verifier-token-0123456789-0123456789",
    "BEHALF_DISPATCHER_TOKEN": "dispatcher-token-0123456789-0123456789",
    "BEHALF_VERIFIER_TOKEN_DIGESTS": "01" * 32,
    "BEHALF_DISPATCHER_TOKEN_DIGESTS": "02" * 32,
    "BEHALF_OPERATOR_TOKEN_DIGESTS": "03" * 32,
    "BEHALF_MASTER_KEY": base64.b64encode(bytes(32)).decode(),
}


def _host(**env: str) -> HostSettings:
    return HostSettings.from_env(
        Env(env),
        default_grpc_port=1,
        default_metrics_port=2,
        default_max_receive_bytes=MIB,
        default_max_concurrent_rpcs=10,
    )


@pytest.mark.parametrize(
    ("settings", "receive", "rpcs"),
    [
        (VerifierSettings, MIB, 1000),
        (RegistrySettings, 4 * MIB, 1000),
        (DispatcherSettings, 4 * MIB, 200),
    ],
)
def test_service_defaults(settings, receive: int, rpcs: int) -> None:
    """The verifier accepts 1 MiB messages, the registry and dispatcher 4 MiB, each with a cap."""
    host = settings.from_env(Env(BASE_ENV)).host
    assert (host.max_receive_bytes, host.max_concurrent_rpcs) == (receive, rpcs)


def test_limits_come_from_the_environment() -> None:
    """BEHALF_MAX_RECEIVE_BYTES and BEHALF_MAX_CONCURRENT_RPCS override a service's defaults."""
    host = _host(BEHALF_MAX_RECEIVE_BYTES="65536", BEHALF_MAX_CONCURRENT_RPCS="3")
    assert (host.max_receive_bytes, host.max_concurrent_rpcs) == (65536, 3)


@pytest.mark.parametrize(
    "env",
    [
        {"BEHALF_MAX_RECEIVE_BYTES": "100"},
        {"BEHALF_MAX_RECEIVE_BYTES": str(128 * MIB)},
        {"BEHALF_MAX_RECEIVE_BYTES": "1MiB"},
        {"BEHALF_MAX_CONCURRENT_RPCS": "0"},
    ],
)
def test_out_of_range_limits_are_refused(env: dict[str, str]) -> None:
    """A limit below 16 KiB, above 64 MiB, not an integer, or a cap of zero is a ConfigError."""
    with pytest.raises(ConfigError, match="BEHALF_MAX_"):
        _host(**env)
