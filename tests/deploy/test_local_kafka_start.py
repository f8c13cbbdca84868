"""deploy/local/kafka.sh start: a broker still being exec'd is starting, one that exits is dead.

Both cases put a `setsid` of our own first on PATH, in front of the one kafka.sh runs the broker
through: one that takes a while to exec the real `setsid`, with its arguments out of sight
meanwhile (as a loaded machine's fork-to-exec window looks from /proc), and one that exits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.infra import KAFKA_SCRIPT, free_port

# Until it execs the real setsid, this process's cmdline is `slow-exec -c ...`: nothing in it
# says kafka.Kafka, just as a freshly forked shell's does not.
SLOW_SETSID = """#!/bin/bash
export SLOW_EXEC_ARGS=$(printf '%q ' "$@")
exec -a slow-exec /bin/bash -c 'sleep 2; eval "exec {setsid} $SLOW_EXEC_ARGS"'
"""
DYING_SETSID = "#!/bin/bash\nexit 1\n"


def _kafka_sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(KAFKA_SCRIPT), command],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _env(tmp_path: Path, setsid_script: str) -> dict[str, str]:
    real_setsid = shutil.which("setsid")
    assert real_setsid is not None
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    setsid = wrappers / "setsid"
    setsid.write_text(setsid_script.format(setsid=real_setsid))
    setsid.chmod(0o755)
    return {
        "PATH": f"{wrappers}:{os.environ['PATH']}",
        "BEHALF_KAFKA_DIR": str(tmp_path / "kafka"),
        "BEHALF_KAFKA_PORT": str(free_port()),
        "BEHALF_KAFKA_CONTROLLER_PORT": str(free_port()),
        "BEHALF_KAFKA_SASL": "0",
        "BEHALF_PYTHON": sys.executable,
    }


@pytest.fixture
def slow_exec_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = _env(tmp_path, SLOW_SETSID)
    yield env
    _kafka_sh("kill", env)


def test_a_broker_not_yet_execd_is_waited_for(slow_exec_env: dict[str, str]) -> None:
    started = _kafka_sh("start", slow_exec_env)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"127.0.0.1:{slow_exec_env['BEHALF_KAFKA_PORT']}"
    status = _kafka_sh("status", slow_exec_env)
    assert status.returncode == 0
    assert status.stdout.startswith("running pid ")


def test_a_broker_that_exits_is_reported_at_once(tmp_path: Path) -> None:
    env = _env(tmp_path, DYING_SETSID)
    started = _kafka_sh("start", env)
    assert started.returncode == 1
    assert "error: broker exited during startup" in started.stderr
    assert _kafka_sh("status", env).stdout.strip() == "stopped"
