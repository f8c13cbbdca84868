"""Server-side sessions: the browser holds an opaque id; the API key stays on the server.

A `SessionStore` keeps them: `PostgresSessionStore` (`sessions_pg.py`) in the `console`
schema, shared by every replica and surviving restarts, or `MemorySessionStore` in this
process (development on loopback only). A request reads its session once (`get`), queues
flashes and show-once values on it in memory, and the session middleware writes back only
what changed (`save`, a `StateChange`), so two requests of one browser in flight together do
not undo each other's changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["admin", "audit_read"]
ROLES: tuple[Role, ...] = ("admin", "audit_read")
Flash = tuple[str, str, str]  # (flash id, level, message)
SESSION_ID_BYTES = 32
MAX_SESSIONS = 10_000
MAX_FLASHES = 20
MAX_ONCE = 20


def new_session_id() -> str:
    """An opaque, unguessable cookie value (256 random bits)."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def looks_like_session_id(value: str) -> bool:
    """Cheap shape check before a cookie value is used as a lookup key."""
    return 40 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def session_id_hash(session_id: str) -> bytes:
    """What a store keeps instead of the id: SHA-256 (the id has 256 random bits)."""
    return hashlib.sha256(session_id.encode()).digest()


def csrf_token(secret: bytes, session_id: str) -> str:
    """The CSRF token bound to one cookie value: HMAC(secret, id); rotates with the id."""
    return hmac.new(secret, b"csrf|" + session_id.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, session_id: str, submitted: str) -> bool:
    """Constant-time check of a submitted CSRF token."""
    return bool(submitted) and hmac.compare_digest(csrf_token(secret, session_id), submitted)


@dataclass(frozen=True)
class SessionState:
    """What a session carries between requests: queued flashes and show-once values."""

    flashes: tuple[Flash, ...] = ()
    once: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({"f": self.flashes, "o": dict(self.once)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> SessionState:
        raw = json.loads(data)
        flashes = tuple((str(i), str(level), str(text)) for i, level, text in raw["f"])
        return cls(flashes, {str(k): str(v) for k, v in raw["o"].items()})


@dataclass(frozen=True)
class StateChange:
    """What one request did to a session's state, to merge into whatever is stored now."""

    added: tuple[Flash, ...] = ()
    taken: frozenset[str] = frozenset()
    set_once: Mapping[str, str] = field(default_factory=dict)
    dropped_once: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.added or self.taken or self.set_once or self.dropped_once)

    @classmethod
    def between(cls, before: SessionState, after: SessionState) -> StateChange:
        before_ids = {f[0] for f in before.flashes}
        after_ids = {f[0] for f in after.flashes}
        return cls(
            added=tuple(f for f in after.flashes if f[0] not in before_ids),
            taken=frozenset(before_ids - after_ids),
            set_once={k: v for k, v in after.once.items() if before.once.get(k) != v},
            dropped_once=frozenset(before.once.keys() - after.once.keys()),
        )

    def apply(self, state: SessionState) -> SessionState:
        """`state` with this change made; the newest MAX_FLASHES and MAX_ONCE entries kept."""
        added_ids = {f[0] for f in self.added}
        kept = [f for f in state.flashes if f[0] not in self.taken and f[0] not in added_ids]
        once = {k: v for k, v in state.once.items() if k not in self.dropped_once}
        for key, value in self.set_once.items():
            once.pop(key, None)
            once[key] = value
        newest = dict(list(once.items())[-MAX_ONCE:])
        return SessionState(tuple([*kept, *self.added][-MAX_FLASHES:]), newest)


@dataclass
class Session:
    """One signed-in browser. Neither its id nor `api_key` is in its repr, a log or a page."""

    session_id: str = field(repr=False)
    api_key: str = field(repr=False)
    role: Role
    tenant_id: str
    tenant_name: str
    actor: str
    created: float
    last_seen: float
    flashes: list[Flash] = field(default_factory=list)
    once: dict[str, str] = field(default_factory=dict, repr=False)
    _saved: SessionState = field(default_factory=SessionState, repr=False, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def flash(self, level: str, message: str) -> None:
        """Queue a message for the next page this session sees."""
        self.flashes.append((secrets.token_hex(6), level, message))

    def take_flashes(self) -> list[tuple[str, str]]:
        """(level, message) of every queued flash, which are then gone."""
        taken, self.flashes = self.flashes, []
        return [(level, message) for _, level, message in taken]

    def state(self) -> SessionState:
        return SessionState(tuple(self.flashes), dict(self.once))

    def pending(self) -> StateChange:
        """What changed since the session was read or last saved."""
        return StateChange.between(self._saved, self.state())

    def mark_saved(self, state: SessionState | None = None) -> None:
        self._saved = state if state is not None else self.state()


class SessionStore(Protocol):
    """Where sessions live. Expired sessions are never returned; `sweep` deletes them."""

    async def start(self) -> None:
        """Connect (and migrate) before the first request."""

    async def close(self) -> None: ...

    async def create(
        self, *, api_key: str, role: Role, tenant_id: str, tenant_name: str, actor: str
    ) -> Session:
        """A new session under a fresh id (never a client-chosen one: no fixation)."""

    async def get(self, session_id: str) -> Session | None:
        """The live session for this id, touched; None if unknown or expired (then dropped)."""

    async def save(self, session: Session) -> None:
        """Store what the request changed in the session's flashes and show-once values."""

    async def delete(self, session_id: str) -> None: ...

    async def sweep(self) -> int:
        """Delete every expired session; return how many."""


class MemorySessionStore:
    """Sessions in this process's memory: a restart signs everyone out. Loopback only."""

    def __init__(
        self,
        *,
        idle_seconds: float,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = MAX_SESSIONS,
    ) -> None:
        self._sessions: dict[str, Session] = {}
        self._idle = idle_seconds
        self._max = max_seconds
        self._clock = clock
        self._capacity = capacity

    def __len__(self) -> int:
        return len(self._sessions)

    async def start(self) -> None: ...

    async def close(self) -> None:
        self._sessions.clear()

    async def create(
        self, *, api_key: str, role: Role, tenant_id: str, tenant_name: str, actor: str
    ) -> Session:
        now = self._clock()
        await self.sweep()
        while len(self._sessions) >= self._capacity:
            oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
            del self._sessions[oldest.session_id]
        session = Session(
            session_id=new_session_id(),
            api_key=api_key,
            role=role,
            tenant_id=tenant_id,
            tenant_name=tenant_name,
            actor=actor,
            created=now,
            last_seen=now,
        )
        self._sessions[session.session_id] = session
        return session

    async def get(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if self._expired(session, now):
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    async def save(self, session: Session) -> None:
        """Nothing to write: requests share the one Session object."""

    async def delete(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def sweep(self) -> int:
        now = self._clock()
        expired = [sid for sid, s in self._sessions.items() if self._expired(s, now)]
        for sid in expired:
            del self._sessions[sid]
        return len(expired)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_seen > self._idle or now - session.created > self._max
