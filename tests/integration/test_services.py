"""Each service process starts, is SERVING, is listed by reflection, and stops on SIGTERM."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.infra import free_port
from tests.harness.processes import ServiceProcess, base_env, start_service, tool

SERVICES = {
    "registry": ["behalf.v1.RegistryService"],
    "verifier": ["behalf.v1.VerifierService"],
    "dispatcher": ["behalf.v1.DispatcherService"],
}


@pytest.fixture(scope="module")
def stack_env(database_url: str, kafka_bootstrap: str) -> dict[str, str]:
    return base_env(database_url, kafka_bootstrap, f"t{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def running(stack_env: dict[str, str], tmp_path_factory) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("logs")
    registry = start_service("registry", stack_env, log_dir)
    registry.wait_serving()
    processes = {"registry": registry}
    for name in ("verifier", "dispatcher"):
        processes[name] = start_service(
            name, stack_env, log_dir, BEHALF_REGISTRY_INTERNAL_TARGET=registry.internal_target
        )
    for process in processes.values():
        process.wait_serving()
    yield processes
    for process in processes.values():
        process.kill()


@pytest.mark.parametrize("name", list(SERVICES))
def test_health_probe_reports_serving(running: dict[str, ServiceProcess], name: str) -> None:
    """grpc-health-probe, a real external client, sees every service SERVING."""
    result = subprocess.run(
        [tool("grpc-health-probe"), "-addr", running[name].target],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status: SERVING" in result.stdout + result.stderr


@pytest.mark.parametrize("name", list(SERVICES))
def test_reflection_lists_services(running: dict[str, ServiceProcess], name: str) -> None:
    """grpcurl lists each service's own APIs plus health and reflection by reflection."""
    result = subprocess.run(
        [tool("grpcurl"), "-plaintext", running[name].target, "list"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    assert set(SERVICES[name]) | {"grpc.health.v1.Health"} <= listed


def test_registry_internal_api_is_only_on_its_internal_port(
    running: dict[str, ServiceProcess],
) -> None:
    """Reflection on the registry's internal port lists RegistryInternalService (and health);
    the public port does not serve it."""
    registry = running["registry"]
    listed = {}
    for where, target in (("public", registry.target), ("internal", registry.internal_target)):
        result = subprocess.run(
            [tool("grpcurl"), "-plaintext", target, "list"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        listed[where] = set(result.stdout.split())
    assert {"behalf.v1.RegistryInternalService", "grpc.health.v1.Health"} <= listed["internal"]
    assert "behalf.v1.RegistryService" not in listed["internal"]
    assert "behalf.v1.RegistryInternalService" not in listed["public"]


@pytest.mark.parametrize("name", list(SERVICES))
def test_metrics_endpoint_serves_prometheus_text(
    running: dict[str, ServiceProcess], name: str
) -> None:
    """The metrics port answers Prometheus text including the RPC latency histogram."""
    port = running[name].metrics_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert "behalf_rpc_seconds" in body


def test_kcat_lists_project_topics(running: dict[str, ServiceProcess], stack_env) -> None:
    """kcat (librdkafka) sees the topics the services created on the real broker."""
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.skip("kcat is not installed (make tools installs it with apt-get as root)")
    result = subprocess.run(
        [kcat, "-b", stack_env["BEHALF_KAFKA_BOOTSTRAP"], "-L", "-J"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    topics = {t["topic"] for t in json.loads(result.stdout)["topics"]}
    prefix = stack_env["BEHALF_TOPIC_PREFIX"]
    assert {f"{prefix}.decisions", f"{prefix}.lifecycle", f"{prefix}.webhooks.dead"} <= topics


@pytest.mark.parametrize("name", list(SERVICES))
def test_sigterm_drains_and_exits_zero(
    stack_env: dict[str, str], running: dict[str, ServiceProcess], name: str, tmp_path: Path
) -> None:
    """A fresh process of each service exits 0 within the grace bound after SIGTERM."""
    process = start_service(
        name,
        stack_env,
        tmp_path,
        BEHALF_REGISTRY_INTERNAL_TARGET=running["registry"].internal_target,
    )
    process.wait_serving()
    started = time.monotonic()
    assert process.terminate(timeout=15) == 0, process.log()
    assert time.monotonic() - started < 10
    assert '"event": "stopped"' in process.log()


@pytest.mark.parametrize(
    ("overrides", "expected_code", "expected_words"),
    [
        ({"BEHALF_GRPC_PORT": "70000"}, 2, "BEHALF_GRPC_PORT must be between 0 and 65535"),
        ({"BEHALF_GRPC_PORT": "not-a-port"}, 2, "BEHALF_GRPC_PORT must be an integer"),
        (
            {"BEHALF_VERIFIER_TOKEN_DIGESTS": "not-a-digest"},
            2,
            "BEHALF_VERIFIER_TOKEN_DIGESTS must be comma-separated SHA-256 hex digests",
        ),
        ({"BEHALF_INTERNAL_PORT": "70000"}, 2, "BEHALF_INTERNAL_PORT must be between 0 and 65535"),
        ({"BEHALF_MASTER_KEY": "x" * 44}, 2, "BEHALF_MASTER_KEY must be base64"),
        ({"BEHALF_KAFKA_BOOTSTRAP": ""}, 2, "BEHALF_KAFKA_BOOTSTRAP is required"),
    ],
)
def test_invalid_configuration_exits_with_one_line(
    stack_env: dict[str, str], tmp_path: Path, overrides, expected_code, expected_words
) -> None:
    """A bad setting makes the registry exit non-zero with one line naming it, no traceback."""
    process = start_service("registry", stack_env, tmp_path, **overrides)
    process.process.wait(timeout=30)
    output = process.log().strip()
    assert process.process.returncode == expected_code
    assert expected_words in output
    assert len(output.splitlines()) == 1, output
    assert "Traceback" not in output


@pytest.mark.parametrize("name", ["registry", "dispatcher"])
def test_unreachable_database_exits_with_one_line(
    stack_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    """A database nobody answers at makes the service give up after its startup bound."""
    closed = free_port()
    process = start_service(
        name,
        stack_env,
        tmp_path,
        BEHALF_DATABASE_URL=f"postgresql://postgres:hunter2@127.0.0.1:{closed}/behalf",
        BEHALF_STARTUP_TIMEOUT_SECONDS="1",
    )
    process.process.wait(timeout=30)
    output = process.log()
    assert process.process.returncode == 1
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"{name}: cannot start: PostgreSQL at 127.0.0.1:{closed}/behalf")
    assert "hunter2" not in output
    assert "Traceback" not in output
