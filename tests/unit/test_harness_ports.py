"""The test harness never hands out the same free port twice in one process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import infra


class _Socket:
    """Binds to whatever port the kernel offers next, as the fixture scripts it."""

    offers: Iterator[int]

    def __init__(self, *_: Any) -> None:
        self.port = 0

    def __enter__(self) -> _Socket:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def bind(self, _: tuple[str, int]) -> None:
        self.port = next(self.offers)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_offered_again_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    _Socket.offers = iter([41001, 41001, 41001, 41002])
    monkeypatch.setattr(infra.socket, "socket", _Socket)
    monkeypatch.setattr(infra, "_handed_out", set())
    assert [infra.free_port(), infra.free_port()] == [41001, 41002]


def test_real_ports_are_distinct() -> None:
    ports = [infra.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port <= 65535 for port in ports)
