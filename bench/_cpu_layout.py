"""A core of its own for the server under test: it on CPU 0, everything else the benchmark
started (ghz, the broker, PostgreSQL, the registry, the idle servers, the benchmark itself) on
the other CPUs.

With every process free to run on every core, a server's peak and tail include its neighbours'
bursts: the broker's collections stop both cores, ghz competes with the server it drives. A
production verifier pod has its cores to itself and its broker elsewhere. Pinning is Linux's CPU
affinity, set per thread; threads and processes started later inherit their parent's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVER_CPUS = frozenset({0})
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def available() -> bool:
    """Whether this process may run on CPU 0 and at least one other CPU."""
    cpus = os.sched_getaffinity(0)
    return SERVER_CPUS <= cpus and len(cpus - SERVER_CPUS) >= 1


def listener_pid(target: str) -> int:
    """The process listening on `target`'s (host:port) TCP port."""
    port = int(target.rsplit(":", 1)[1])
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in _pids():
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                if os.readlink(fd) in inodes:
                    return pid
        except OSError:
            continue
    raise LookupError(f"no process listens on {target}")


def stack_pids(base: Path) -> set[int]:
    """This process, its descendants, and every process whose command line names a path inside
    `base` (the broker and PostgreSQL, which their scripts detach), with their descendants."""
    parents: dict[int, int] = {}
    roots = {os.getpid()}
    inside = f"{base}/".encode()  # not a sibling folder whose name begins the same
    for pid in _pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        if inside in cmdline:
            roots.add(pid)
    found = set(roots)
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return found


@contextmanager
def own_core(server_pid: int, base: Path) -> Iterator[None]:
    """Pin the server's threads to SERVER_CPUS and every other process of the stack to the
    remaining CPUs (ghz started inside inherits this process's); every CPU again on exit."""
    everyone = frozenset(os.sched_getaffinity(0))
    _pin(server_pid, SERVER_CPUS)
    for pid in stack_pids(base) - {server_pid}:
        _pin(pid, everyone - SERVER_CPUS)
    try:
        yield
    finally:
        for pid in stack_pids(base) | {server_pid}:
            _pin(pid, everyone)


def _pin(pid: int, cpus: frozenset[int]) -> None:
    try:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return
    for tid in threads:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # the thread ended meanwhile
            continue


def _pids() -> Iterator[int]:
    return (int(name) for name in os.listdir("/proc") if name.isdigit())
