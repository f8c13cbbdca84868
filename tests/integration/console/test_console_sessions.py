"""Console sessions in the real PostgreSQL: shared by replicas, expiring, deleted on sign-out,
and never holding the API key or the cookie's id in the clear."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from behalf.console.app import create_app
from behalf.console.sessions_pg import PostgresSessionStore
from behalf.console.settings import ConsoleSettings
from behalf.console.web import SESSION_COOKIE, SESSIONS
from tests.harness.console import csrf_of
from tests.harness.infra import database_url as with_database
from tests.harness.infra import drop_database
from tests.unit.console.test_console_app import ADMIN_KEY, FakeBackend

SECRET = b"console-session-test-secret-0123456789"
IDLE = 60.0
Replica = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def console_db(database_url: str) -> AsyncIterator[str]:
    """A fresh database for one test."""
    name = f"console_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(database_url, name)
    await drop_database(database_url, name)


@pytest.fixture
async def replica(console_db: str) -> AsyncIterator[Replica]:
    """Starts console app instances on one database; `clock` shifts a replica's time."""
    started: list[TestClient] = []

    async def start(clock: Callable[[], float] | None = None) -> TestClient:
        settings = ConsoleSettings(
            host="127.0.0.1",
            port=0,
            registry_target="",
            dispatcher_target="",
            verifier_target="",
            secret=SECRET,
            log_level="INFO",
            database_url=console_db,
            session_idle_seconds=IDLE,
            session_max_seconds=IDLE * 10,
        )
        store = None
        if clock is not None:
            store = PostgresSessionStore(
                console_db,
                secret=SECRET,
                idle_seconds=IDLE,
                max_seconds=IDLE * 10,
                clock=clock,
            )
        app = create_app(settings, FakeBackend(), store)  # type: ignore[arg-type]
        client = TestClient(TestServer(app))
        await client.start_server()
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()


async def _sign_in(client: TestClient) -> tuple[str, str]:
    """Signs in with the admin key; returns the cookie's session id and the agents page."""
    page = await (await client.get("/sign-in")).text()
    response = await client.post(
        "/sign-in", data={"csrf_token": csrf_of(page), "api_key": ADMIN_KEY, "next": "/agents"}
    )
    assert response.status == 200 and response.url.path == "/agents"
    sid = next(c.value for c in client.session.cookie_jar if c.key == SESSION_COOKIE)
    return sid, await response.text()


async def _get(client: TestClient, path: str, sid: str) -> Any:
    """GET with the given session cookie and no cookie jar of the client's own."""
    client.session.cookie_jar.clear()
    return await client.get(path, headers={"Cookie": f"{SESSION_COOKIE}={sid}"})


async def _rows(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch("SELECT * FROM console.sessions")
    finally:
        await conn.close()


async def test_a_session_made_on_one_replica_is_served_by_another(
    replica: Replica, console_db: str
) -> None:
    """A browser signed in on one instance stays signed in on a second instance (a replica or
    a restart) sharing the database, flashes included, and after the first one stops."""
    first, second = await replica(), await replica()
    sid, page = await _sign_in(first)
    created = await first.post(
        "/agents",
        data={"csrf_token": csrf_of(page), "name": "scout", "kind": "native"},
        allow_redirects=False,
    )
    assert created.status == 303
    await first.close()
    served = await _get(second, "/agents", sid)
    assert served.status == 200 and served.url.path == "/agents"
    html = await served.text()
    assert "acme" in html and "created" in html  # the tenant name and the first one's flash
    again = await _get(second, "/agents", sid)
    assert "created" not in await again.text()  # a flash is shown once, on any replica


async def test_the_stored_row_holds_no_key_and_no_session_id(
    replica: Replica, console_db: str
) -> None:
    """The row keeps a hash of the id and the API key sealed: neither is readable in any
    column, and the CSRF token is not stored either."""
    sid, page = await _sign_in(await replica())
    rows = await _rows(console_db)
    assert len(rows) == 1
    row = dict(rows[0])
    assert row["role"] == "admin" and row["tenant_name"] == "acme"
    assert row["expires_at"] > row["last_seen_at"] >= row["created_at"]
    dumped = b"".join(
        v if isinstance(v, bytes) else str(v).encode() for v in row.values() if v is not None
    )
    for secret in (ADMIN_KEY, sid, csrf_of(page)):
        assert secret.encode() not in dumped
    assert row["id_hash"] != sid.encode() and len(row["id_hash"]) == 32


async def test_an_expired_session_is_refused_and_deleted(replica: Replica, console_db: str) -> None:
    """A replica whose clock is past the idle expiry sends the browser to sign in again, and
    the expired row is gone; the sweep deletes other expired rows too."""
    first = await replica()
    sid, _ = await _sign_in(first)
    other_sid, _ = await _sign_in(await replica())
    later = await replica(clock=lambda: time.time() + IDLE + 5)
    refused = await _get(later, "/agents", sid)
    assert refused.url.path == "/sign-in"
    assert len(await _rows(console_db)) == 1  # only the other session's row is left
    assert await later.app[SESSIONS].sweep() == 1
    assert await _rows(console_db) == []
    assert (await _get(first, "/agents", other_sid)).url.path == "/sign-in"


async def test_sign_out_deletes_the_row_for_every_replica(
    replica: Replica, console_db: str
) -> None:
    """Signing out on one replica deletes the row, so the old cookie is refused everywhere."""
    first, second = await replica(), await replica()
    sid, _ = await _sign_in(first)
    page = await (await _get(second, "/agents", sid)).text()
    out = await second.post(
        "/sign-out",
        data={"csrf_token": csrf_of(page)},
        headers={"Cookie": f"{SESSION_COOKIE}={sid}"},
    )
    assert out.url.path == "/sign-in"
    assert await _rows(console_db) == []
    assert (await _get(first, "/agents", sid)).url.path == "/sign-in"


async def test_a_changed_console_secret_signs_everyone_out(
    replica: Replica, console_db: str
) -> None:
    """A row sealed under another console secret does not open: the session is dropped."""
    sid, _ = await _sign_in(await replica())
    settings = ConsoleSettings(
        host="127.0.0.1",
        port=0,
        registry_target="",
        dispatcher_target="",
        verifier_target="",
        secret=b"another-console-secret-0123456789abcdef",
        log_level="INFO",
        database_url=console_db,
    )
    client = TestClient(TestServer(create_app(settings, FakeBackend())))  # type: ignore[arg-type]
    await client.start_server()
    try:
        assert (await _get(client, "/agents", sid)).url.path == "/sign-in"
    finally:
        await client.close()
    assert await _rows(console_db) == []
