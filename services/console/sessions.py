"""Server-side sessions: the browser holds an opaque id; the API key stays in this process."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["admin", "audit_read"]
SESSION_ID_BYTES = 32
MAX_SESSIONS = 10_000


def new_session_id() -> str:
    """An opaque, unguessable cookie value (256 random bits)."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def looks_like_session_id(value: str) -> bool:
    """Cheap shape check before a cookie value is used as a lookup key."""
    return 40 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def csrf_token(secret: bytes, session_id: str) -> str:
    """The CSRF token bound to one cookie value: HMAC(secret, id); rotates with the id."""
    return hmac.new(secret, b"csrf|" + session_id.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, session_id: str, submitted: str) -> bool:
    """Constant-time check of a submitted CSRF token."""
    return bool(submitted) and hmac.compare_digest(csrf_token(secret, session_id), submitted)


@dataclass
class Session:
    """One signed-in browser. `api_key` never leaves the process (not in repr, logs or pages)."""

    session_id: str
    api_key: str = field(repr=False)
    role: Role
    tenant_id: str
    tenant_name: str
    actor: str
    created: float
    last_seen: float
    flashes: list[tuple[str, str]] = field(default_factory=list)
    once: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def flash(self, level: str, message: str) -> None:
        """Queue a message for the next page this session sees."""
        self.flashes.append((level, message))

    def take_flashes(self) -> list[tuple[str, str]]:
        taken, self.flashes = self.flashes, []
        return taken


class SessionStore:
    """In-memory sessions with idle and absolute expiry; a restart signs everyone out."""

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

    def create(
        self, *, api_key: str, role: Role, tenant_id: str, tenant_name: str, actor: str
    ) -> Session:
        """A new session under a fresh id (never a client-chosen one: no fixation)."""
        now = self._clock()
        self.sweep()
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

    def get(self, session_id: str) -> Session | None:
        """The live session for this id, touched; None if unknown or expired (then dropped)."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle or now - session.created > self._max:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def delete(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def sweep(self) -> None:
        """Drop every expired session."""
        now = self._clock()
        expired = [
            sid
            for sid, s in self._sessions.items()
            if now - s.last_seen > self._idle or now - s.created > self._max
        ]
        for sid in expired:
            del self._sessions[sid]
