"""bench/_cpu_layout.py: finding a server by its port and giving it a core of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _cpu_layout import SERVER_CPUS, available, listener_pid, own_core, stack_pids


@pytest.fixture
def detached(tmp_path: Path) -> Iterator[int]:
    """A process outside this one's descendants whose command line names `tmp_path` (as the
    broker's names its folder), with a child of its own; its pid."""
    quiet = "</dev/null >/dev/null 2>&1"
    started = subprocess.run(
        ["/bin/sh", "-c", f"setsid /bin/sh -c 'sleep 60; :' {tmp_path}/m {quiet} & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(started.stdout)
    deadline = time.monotonic() + 10
    while not _children(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield pid
    finally:
        os.killpg(pid, signal.SIGKILL)


def _children(pid: int) -> set[int]:
    return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_the_listener_of_a_port_is_found_and_a_closed_port_is_refused() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert listener_pid(f"127.0.0.1:{port}") == os.getpid()
    with pytest.raises(LookupError):
        listener_pid(f"127.0.0.1:{port}")


def test_the_stack_is_this_process_its_children_and_what_names_the_base(
    tmp_path: Path, detached: int
) -> None:
    child = subprocess.Popen(["sleep", "60"])
    try:
        pids = stack_pids(tmp_path)
        assert {os.getpid(), child.pid, detached} | _children(detached) <= pids
        assert 1 not in pids
        assert detached not in stack_pids(tmp_path / "elsewhere")
        assert detached not in stack_pids(Path(str(tmp_path)[:-1]))
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not available(), reason="needs CPU 0 and another CPU")
def test_own_core_pins_the_server_alone_and_restores_every_cpu(
    tmp_path: Path, detached: int
) -> None:
    everyone = os.sched_getaffinity(0)
    server = subprocess.Popen(["sleep", "60"])
    try:
        with own_core(server.pid, tmp_path):
            assert os.sched_getaffinity(server.pid) == SERVER_CPUS
            assert os.sched_getaffinity(detached) == everyone - SERVER_CPUS
            assert os.sched_getaffinity(0) == everyone - SERVER_CPUS
            child = subprocess.run(
                [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                capture_output=True,
                text=True,
                check=True,
            )
            assert child.stdout.strip() == str(sorted(everyone - SERVER_CPUS))
        for pid in (server.pid, detached, os.getpid()):
            assert os.sched_getaffinity(pid) == everyone
    finally:
        server.kill()
        server.wait()
