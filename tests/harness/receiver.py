"""A tiny HTTP/1.1 webhook receiver on 127.0.0.1 that records every request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


# A behaviour gets the request and its 1-based number on that path; returns (status, headers),
# or (status, headers, body) for a body other than b"received", or None to hang until the
# client gives up.
Answer = tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes]
Behaviour = Callable[[Received, int], Awaitable[Answer | None]]


async def ok(_request: Received, _n: int) -> tuple[int, dict[str, str]]:
    return 200, {}


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server on 127.0.0.1 recording every request."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(
        self, predicate: Callable[[], bool], within: float = 30.0, what: str = "requests"
    ) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _method, path, _version = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    key, _, value = raw.decode().partition(":")
                    headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(path, headers, body, time.monotonic())
                self.requests.append(request)
                self.arrived.set()
                behaviour = self.behaviours.get(path, ok)
                answer = await behaviour(request, len(self.on(path)))
                if answer is None:
                    await asyncio.sleep(3600)
                    return
                status, extra = answer[0], answer[1]
                reply = answer[2] if len(answer) == 3 else b"received"
                head = [f"HTTP/1.1 {status} X", f"content-length: {len(reply)}"]
                head += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()
