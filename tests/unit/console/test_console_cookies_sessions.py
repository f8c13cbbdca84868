"""Console sessions without a database: the Secure decision, settings, state merging, sealing,
the in-memory store and the health endpoint."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from behalf.common.config import ConfigError, Env
from behalf.console.app import create_app
from behalf.console.sealing import SealBroken, Sealer
from behalf.console.sessions import (
    MAX_FLASHES,
    MemorySessionStore,
    SessionState,
    StateChange,
    csrf_token,
    csrf_valid,
    session_id_hash,
)
from behalf.console.settings import ConsoleSettings, cookies_secure, is_loopback
from behalf.console.views_testlinks import public_origin
from behalf.console.web import SETTINGS
from tests.unit.console.test_console_app import FakeBackend

SECRET = "s" * 40


def _env(**values: str) -> Env:
    return Env({"BEHALF_CONSOLE_SECRET": SECRET, **values})


def _settings(host: str, secure: bool | None = None) -> ConsoleSettings:
    return ConsoleSettings(
        host=host,
        port=0,
        registry_target="",
        dispatcher_target="",
        verifier_target="",
        secret=SECRET.encode(),
        log_level="INFO",
        secure_cookies=secure,
    )


# --- the Secure decision ------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST", "localhost.", "::ffff:127.0.0.1"],
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    """127.0.0.0/8, ::1 (also IPv4-mapped) and localhost count as loopback."""
    assert is_loopback(host)
    assert not cookies_secure(host, None)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.7", "192.168.1.2", "console.example.com", "128.0.0.1"]
)
def test_every_other_host_gets_secure_cookies(host: str) -> None:
    """Any address or name that is not loopback, wildcards included, makes cookies Secure."""
    assert not is_loopback(host)
    assert cookies_secure(host, None)


def test_the_override_wins_in_both_directions() -> None:
    """BEHALF_CONSOLE_SECURE_COOKIES=true/false beats the bind host; auto or unset defers to it."""
    assert cookies_secure("127.0.0.1", True)
    assert not cookies_secure("0.0.0.0", False)
    loopback = {"BEHALF_HOST": "127.0.0.1"}
    assert ConsoleSettings.from_env(_env(**loopback)).cookie_secure is False
    assert ConsoleSettings.from_env(_env(**loopback, BEHALF_CONSOLE_SECURE_COOKIES="auto")) == (
        ConsoleSettings.from_env(_env(**loopback))
    )
    forced = _env(**loopback, BEHALF_CONSOLE_SECURE_COOKIES="true")
    assert ConsoleSettings.from_env(forced).cookie_secure is True
    wildcard = {"BEHALF_HOST": "0.0.0.0", "BEHALF_CONSOLE_DATABASE_URL": "postgresql://db/x"}
    assert ConsoleSettings.from_env(_env(**wildcard)).cookie_secure is True
    off = _env(**wildcard, BEHALF_CONSOLE_SECURE_COOKIES="false")
    assert ConsoleSettings.from_env(off).cookie_secure is False


def test_a_malformed_override_names_the_variable() -> None:
    """BEHALF_CONSOLE_SECURE_COOKIES accepts only auto, true or false."""
    with pytest.raises(ConfigError, match="BEHALF_CONSOLE_SECURE_COOKIES must be auto"):
        ConsoleSettings.from_env(_env(BEHALF_CONSOLE_SECURE_COOKIES="sometimes"))


@pytest.mark.parametrize(
    ("host", "secure"), [("127.0.0.1", False), ("0.0.0.0", True), ("::1", False)]
)
async def test_the_cookie_header_follows_the_bind_host(host: str, secure: bool) -> None:
    """The Set-Cookie header has `Secure` exactly when the console is not bound to loopback,
    and always HttpOnly and SameSite=Strict. A Secure one is named `__Host-…`: otherwise a
    sibling subdomain (or a plain-http page of the host) could set a cookie of the same name
    for the parent domain, which the console would read as the session (cookie tossing: the
    victim works signed in as the attacker, pasting webhook secrets or approving there);
    browsers take a `__Host-` cookie only from this host, Secure, with Path=/ and no Domain."""
    client = TestClient(TestServer(create_app(_settings(host), FakeBackend())))  # type: ignore[arg-type]
    await client.start_server()
    try:
        cookie = (await client.get("/sign-in")).headers["Set-Cookie"]
    finally:
        await client.close()
    name = "__Host-behalf_console" if secure else "behalf_console"
    morsel = SimpleCookie(cookie)[name]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert bool(morsel["secure"]) is secure and not morsel["domain"]


# --- where sessions live ------------------------------------------------------------------


def test_a_database_url_is_required_unless_on_loopback() -> None:
    """Without BEHALF_CONSOLE_DATABASE_URL the console starts only on loopback (memory)."""
    assert ConsoleSettings.from_env(_env(BEHALF_HOST="localhost")).database_url is None
    with pytest.raises(ConfigError, match="BEHALF_CONSOLE_DATABASE_URL is required"):
        ConsoleSettings.from_env(_env(BEHALF_HOST="0.0.0.0"))
    with pytest.raises(ConfigError, match="postgresql:// URL"):
        ConsoleSettings.from_env(_env(BEHALF_CONSOLE_DATABASE_URL="mysql://db/x"))
    url = "postgresql://console:pw@db:5432/behalf"
    loaded = ConsoleSettings.from_env(_env(BEHALF_HOST="0.0.0.0", BEHALF_CONSOLE_DATABASE_URL=url))
    assert loaded.database_url == url


# --- state changes merge instead of overwriting -------------------------------------------


def test_concurrent_changes_to_one_session_merge() -> None:
    """Two requests that each read the same state keep each other's flashes and secrets."""
    stored = SessionState(flashes=(("f1", "ok", "old"),), once={"link:a": "url-a"})
    first = StateChange.between(stored, SessionState((), {"link:a": "url-a", "secret:w": "s"}))
    both = (("f1", "ok", "old"), ("f2", "ok", "new"))
    second = StateChange.between(stored, SessionState(both, {"link:a": "url-a"}))
    merged = second.apply(first.apply(stored))
    assert merged.flashes == (("f2", "ok", "new"),)
    assert merged.once == {"link:a": "url-a", "secret:w": "s"}
    popped = StateChange.between(stored, SessionState(stored.flashes, {}))
    assert popped.apply(merged).once == {"secret:w": "s"}
    assert not StateChange.between(stored, stored)


def test_state_is_bounded_and_round_trips() -> None:
    """Flashes nobody reads are capped; the state survives its JSON form unchanged."""
    many = tuple((f"f{i}", "ok", f"m{i}") for i in range(MAX_FLASHES + 5))
    state = StateChange(added=many).apply(SessionState())
    assert len(state.flashes) == MAX_FLASHES and state.flashes[-1][0] == many[-1][0]
    assert SessionState.from_json(state.to_json()) == state


# --- sealing ------------------------------------------------------------------------------


def test_sealed_values_open_only_with_their_secret_and_associated_data() -> None:
    """A sealed key is unreadable in the clear and opens only under the same secret and row."""
    sealer = Sealer(b"x" * 40, b"purpose")
    sealed = sealer.seal(b"bhk_admin_secret", b"row-1")
    assert b"bhk_admin_secret" not in sealed
    assert sealer.open(sealed, b"row-1") == b"bhk_admin_secret"
    for other, aad in ((sealer, b"row-2"), (Sealer(b"y" * 40, b"purpose"), b"row-1")):
        with pytest.raises(SealBroken):
            other.open(sealed, aad)
    with pytest.raises(SealBroken):
        sealer.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"row-1")


def test_the_session_id_is_stored_only_as_a_hash() -> None:
    """The stored lookup key is 32 bytes of SHA-256 that do not contain the id."""
    digest = session_id_hash("an-opaque-session-id-" + "x" * 30)
    assert len(digest) == 32 and b"opaque" not in digest


# --- the in-memory store ------------------------------------------------------------------


async def test_memory_sessions_expire_when_idle_and_csrf_tokens_bind_to_the_id() -> None:
    """An idle session disappears; a CSRF token is valid only for its own session id."""
    now = [0.0]
    store = MemorySessionStore(idle_seconds=10, max_seconds=100, clock=lambda: now[0])
    session = await store.create(
        api_key="k", role="admin", tenant_id="t", tenant_name="n", actor="a"
    )
    assert "'k'" not in repr(session) and session.session_id not in repr(session)
    now[0] = 5
    assert await store.get(session.session_id) is session
    now[0] = 16
    assert await store.get(session.session_id) is None and len(store) == 0
    token = csrf_token(b"secret", "id-1")
    assert csrf_valid(b"secret", "id-1", token)
    assert not csrf_valid(b"secret", "id-2", token)
    assert not csrf_valid(b"secret", "id-1", "")


async def test_memory_sessions_end_at_their_absolute_lifetime_and_are_swept() -> None:
    """A session kept busy still ends at the maximum lifetime; sweep drops expired ones."""
    now = [0.0]
    store = MemorySessionStore(idle_seconds=10, max_seconds=25, clock=lambda: now[0])
    busy = await store.create(api_key="k", role="admin", tenant_id="t", tenant_name="n", actor="")
    idle = await store.create(api_key="k", role="admin", tenant_id="t", tenant_name="n", actor="")
    for t in (8.0, 16.0, 24.0):
        now[0] = t
        assert await store.get(busy.session_id) is busy
    assert await store.sweep() == 1 and await store.get(idle.session_id) is None
    now[0] = 26.0
    assert await store.get(busy.session_id) is None


async def test_healthz_answers_without_a_session_cookie() -> None:
    """/healthz is 200 "ok", sets no cookie and needs no session."""
    client = TestClient(TestServer(create_app(_settings("0.0.0.0"), FakeBackend())))  # type: ignore[arg-type]
    await client.start_server()
    try:
        response = await client.get("/healthz")
        assert response.status == 200 and await response.text() == "ok"
        assert "Set-Cookie" not in response.headers
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("bound", "host_header", "origin"),
    [
        ("0.0.0.0", "console.example.com", "https://console.example.com"),
        ("0.0.0.0", "console.example.com:8443", "https://console.example.com:8443"),
        ("127.0.0.1", "127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_links_name_https_wherever_cookies_are_secure(
    bound: str, host_header: str, origin: str
) -> None:
    """Off loopback the console is served over HTTPS by a proxy in front while it speaks plain
    HTTP itself: a test link (a bearer token) it hands out says https, never http."""
    app = web.Application()
    app[SETTINGS] = _settings(bound)
    request = make_mocked_request("POST", "/agents/x/test-links", {"Host": host_header}, app=app)
    assert public_origin(request) == origin
