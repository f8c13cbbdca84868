"""Issuing, listing and revoking an external agent's manual test links (each its own key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from behalf.console.backend import Backend
from behalf.console.present import has_time
from behalf.console.testlinks import (
    LinkCodec,
    ManualTestLink,
    key_name,
    new_link_id,
    parse_key_name,
)
from behalf.v1 import registry_pb2, resources_pb2


@dataclass(frozen=True)
class LinkRow:
    """One link of an agent, as listed from its API key."""

    link_id: str
    key_id: str
    expires_at: datetime
    revoked: bool

    @property
    def expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)


async def links_of(backend: Backend, admin_key: str, agent_id: str) -> list[LinkRow]:
    """The agent's links, newest first. Keys of links past their expiry are revoked here, so
    an expired link's key does not outlive it for long."""
    rows: list[LinkRow] = []
    token = ""
    while True:
        page = await backend.call(
            backend.registry.ListApiKeys,
            registry_pb2.ListApiKeysRequest(page_size=500, page_token=token),
            admin_key,
        )
        for api_key in page.api_keys:
            parsed = parse_key_name(api_key.name)
            if parsed is None or parsed[1] != agent_id:
                continue
            rows.append(
                LinkRow(
                    link_id=parsed[0],
                    key_id=api_key.key_id,
                    expires_at=datetime.fromtimestamp(parsed[2], UTC),
                    revoked=has_time(api_key.revoke_time),
                )
            )
        token = page.next_page_token
        if not token:
            break
    for index, row in enumerate(rows):
        if row.expired and not row.revoked:
            await revoke_link(backend, admin_key, row.key_id)
            rows[index] = LinkRow(row.link_id, row.key_id, row.expires_at, True)
    return sorted(rows, key=lambda r: r.expires_at, reverse=True)


async def issue_link(
    backend: Backend,
    codec: LinkCodec,
    admin_key: str,
    agent: resources_pb2.Agent,
    lifetime_seconds: int,
) -> str:
    """Create the link's key and return the signed token that carries it. The key is a
    verify key that is `test_mode_only` and bound to the link's agent, so the verifier itself
    refuses it any request that could authorize, and any other agent."""
    link_id = new_link_id()
    expires_at = int(datetime.now(UTC).timestamp()) + lifetime_seconds
    created = await backend.call(
        backend.registry.CreateApiKey,
        registry_pb2.CreateApiKeyRequest(
            name=key_name(link_id, agent.agent_id, expires_at),
            role=resources_pb2.ROLE_VERIFY,
            test_mode_only=True,
            agent_id=agent.agent_id,
        ),
        admin_key,
    )
    return codec.encode(
        ManualTestLink(
            link_id=link_id,
            tenant_id=agent.tenant_id,
            agent_id=agent.agent_id,
            agent_name=agent.name[:200],
            key_id=created.api_key.key_id,
            expires_at=expires_at,
            api_key=created.secret,
        )
    )


async def revoke_link(backend: Backend, admin_key: str, key_id: str) -> None:
    await backend.call(
        backend.registry.RevokeApiKey, registry_pb2.RevokeApiKeyRequest(key_id=key_id), admin_key
    )
