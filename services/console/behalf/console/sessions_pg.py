"""Sessions in PostgreSQL (schema `console`): any replica serves any browser, across restarts.

A row is keyed by the SHA-256 of the cookie's id, never the id. The API key and the state
(flashes, show-once secrets) are sealed with AES-256-GCM under a key derived from
BEHALF_CONSOLE_SECRET; the associated data binds each to its row (and the key to its tenant),
so a row copied or edited in the database does not open. Expiry is one column, `expires_at`:
the earlier of idle (`last_seen_at` + idle) and absolute (`created_at` + max) expiry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from behalf.common.pg import connect_pool, migrate
from behalf.console.sealing import SealBroken, Sealer
from behalf.console.sessions import (
    ROLES,
    Role,
    Session,
    SessionState,
    new_session_id,
    session_id_hash,
)

_log = structlog.get_logger("console.sessions")
SCHEMA = "console"
SWEEP_SECONDS = 60.0

_INSERT = """
    INSERT INTO sessions (id_hash, tenant_id, tenant_name, role, actor, api_key_sealed,
                          state_sealed, created_at, last_seen_at, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"""
# One round trip: an expired row is deleted (refused), a live one touched and returned.
_TOUCH = """
    WITH gone AS (
        DELETE FROM sessions WHERE id_hash = $1 AND expires_at <= $2
    )
    UPDATE sessions
       SET last_seen_at = $2, expires_at = LEAST($2 + $3::interval, created_at + $4::interval)
     WHERE id_hash = $1 AND expires_at > $2
    RETURNING tenant_id, tenant_name, role, actor, api_key_sealed, state_sealed,
              created_at, last_seen_at"""


class PostgresSessionStore:
    """The console's sessions table; `start` connects, migrates and begins sweeping."""

    def __init__(
        self,
        url: str,
        *,
        secret: bytes,
        idle_seconds: float,
        max_seconds: float,
        startup_timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        sweep_seconds: float = SWEEP_SECONDS,
    ) -> None:
        self._url = url
        self._sealer = Sealer(secret, b"behalf-console session key")
        self._idle = timedelta(seconds=idle_seconds)
        self._max = timedelta(seconds=max_seconds)
        self._startup_timeout = startup_timeout_seconds
        self._clock = clock
        self._sweep_seconds = sweep_seconds
        self._pool: asyncpg.Pool | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresSessionStore.start() has not run")
        return self._pool

    async def start(self) -> None:
        self._pool = await connect_pool(
            self._url, schema=SCHEMA, timeout_seconds=self._startup_timeout, max_size=10
        )
        await migrate(self._pool, "behalf.console")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="session-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def create(
        self, *, api_key: str, role: Role, tenant_id: str, tenant_name: str, actor: str
    ) -> Session:
        now = self._now()
        session = Session(
            session_id=new_session_id(),
            api_key=api_key,
            role=role,
            tenant_id=tenant_id,
            tenant_name=tenant_name,
            actor=actor,
            created=now.timestamp(),
            last_seen=now.timestamp(),
        )
        id_hash = session_id_hash(session.session_id)
        await self.pool.execute(
            _INSERT,
            id_hash,
            tenant_id,
            tenant_name,
            role,
            actor,
            self._sealer.seal(api_key.encode(), _key_aad(id_hash, tenant_id)),
            self._sealer.seal(SessionState().to_json(), _state_aad(id_hash)),
            now,
            min(now + self._idle, now + self._max),
        )
        return session

    async def get(self, session_id: str) -> Session | None:
        id_hash = session_id_hash(session_id)
        row = await self.pool.fetchrow(_TOUCH, id_hash, self._now(), self._idle, self._max)
        if row is None:
            return None
        try:
            if row["role"] not in ROLES:
                raise SealBroken
            api_key = self._sealer.open(
                row["api_key_sealed"], _key_aad(id_hash, row["tenant_id"])
            ).decode()
            state = self._open_state(id_hash, row["state_sealed"])
        except SealBroken:
            # Sealed under another console secret (rotated) or altered: signed out.
            _log.warning("session_unreadable")
            await self.delete(session_id)
            return None
        session = Session(
            session_id=session_id,
            api_key=api_key,
            role=row["role"],
            tenant_id=row["tenant_id"],
            tenant_name=row["tenant_name"],
            actor=row["actor"],
            created=row["created_at"].timestamp(),
            last_seen=row["last_seen_at"].timestamp(),
            flashes=list(state.flashes),
            once=dict(state.once),
        )
        session.mark_saved(state)
        return session

    async def save(self, session: Session) -> None:
        """Merge the request's change into the stored state under a row lock."""
        change = session.pending()
        if not change:
            return
        id_hash = session_id_hash(session.session_id)
        async with self.pool.acquire() as conn, conn.transaction():
            sealed = await conn.fetchval(
                "SELECT state_sealed FROM sessions WHERE id_hash = $1 FOR UPDATE", id_hash
            )
            if sealed is None:  # signed out meanwhile
                return
            try:
                current = self._open_state(id_hash, sealed)
            except SealBroken:
                current = SessionState()
            merged = change.apply(current)
            await conn.execute(
                "UPDATE sessions SET state_sealed = $2 WHERE id_hash = $1",
                id_hash,
                self._sealer.seal(merged.to_json(), _state_aad(id_hash)),
            )
        session.mark_saved()

    async def delete(self, session_id: str) -> None:
        await self.pool.execute(
            "DELETE FROM sessions WHERE id_hash = $1", session_id_hash(session_id)
        )

    async def sweep(self) -> int:
        status = await self.pool.execute("DELETE FROM sessions WHERE expires_at <= $1", self._now())
        return int(status.rsplit(" ", 1)[-1])

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                swept = await self.sweep()
            except Exception as exc:
                _log.warning("session_sweep_failed", error=type(exc).__name__)
            else:
                if swept:
                    _log.info("sessions_swept", count=swept)

    def _open_state(self, id_hash: bytes, sealed: bytes) -> SessionState:
        try:
            return SessionState.from_json(self._sealer.open(sealed, _state_aad(id_hash)))
        except (ValueError, KeyError, TypeError):
            raise SealBroken from None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _key_aad(id_hash: bytes, tenant_id: str) -> bytes:
    return b"api_key|" + id_hash + b"|" + tenant_id.encode()


def _state_aad(id_hash: bytes) -> bytes:
    return b"state|" + id_hash
