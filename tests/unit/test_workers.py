"""Worker-count settings (behalf.common.workers): defaults, bounds and the fixed-port rule."""

from __future__ import annotations

import pytest

from behalf.common.config import ConfigError, Env
from behalf.common.workers import default_worker_count, worker_count, worker_index
from behalf.verifier.settings import VerifierSettings

NAME = "BEHALF_VERIFIER_WORKERS"


def test_default_is_the_cpu_count() -> None:
    assert worker_count(Env({}), NAME, grpc_port=50052) == default_worker_count() >= 1


def test_an_explicit_count_is_used() -> None:
    assert worker_count(Env({NAME: "3"}), NAME, grpc_port=50052) == 3


@pytest.mark.parametrize("raw", ["0", "-1", "257", "two", "1.5"])
def test_a_bad_count_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match=NAME):
        worker_count(Env({NAME: raw}), NAME, grpc_port=50052)


def test_workers_need_a_fixed_port() -> None:
    with pytest.raises(ConfigError, match="BEHALF_GRPC_PORT"):
        worker_count(Env({NAME: "2"}), NAME, grpc_port=0)
    assert worker_count(Env({NAME: "1"}), NAME, grpc_port=0) == 1


def test_a_worker_never_supervises_workers_of_its_own() -> None:
    env = Env({NAME: "4", "BEHALF_WORKER_INDEX": "2"})
    assert worker_index(env) == 2
    assert worker_count(env, NAME, grpc_port=50052) == 1


def test_not_a_worker_without_an_index() -> None:
    assert worker_index(Env({})) is None
    with pytest.raises(ConfigError, match="BEHALF_WORKER_INDEX"):
        worker_index(Env({"BEHALF_WORKER_INDEX": "x"}))


def test_each_worker_has_its_own_verifier_id() -> None:
    base = {
        "BEHALF_VERIFIER_TOKEN": "t" * 40,
        "BEHALF_VERIFIER_ID": "verifier-pod-a",
        "BEHALF_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    }
    ids = {
        VerifierSettings.from_env(Env({**base, "BEHALF_WORKER_INDEX": str(i)})).verifier_id
        for i in range(3)
    }
    assert ids == {"verifier-pod-a-w0", "verifier-pod-a-w1", "verifier-pod-a-w2"}
    assert VerifierSettings.from_env(Env(base)).verifier_id == "verifier-pod-a"
