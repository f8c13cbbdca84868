"""Manual test links: signed, expiring tokens scoped to one agent and to test mode.

A token is `v1.<payload>.<mac>`: base64url JSON, then HMAC-SHA256 over `v1.<payload>` with a
key derived from BEHALF_CONSOLE_SECRET. The payload names the tenant, the agent, the link's
own verify-role API key id and its expiry, and carries that key's secret encrypted with
AES-256-GCM (a second derived key, the link and agent ids as associated data). So the console
keeps no link state: any replica, after any restart, can serve a link; and revoking a link
revokes its API key in the registry, which every verifier then refuses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
MAX_TOKEN_LENGTH = 4096
KEY_NAME_PREFIX = "console-test-link"
_KEY_NAME = re.compile(
    rf"^{KEY_NAME_PREFIX} (?P<link>lnk_[0-9a-z]{{20}}) (?P<agent>agt_[0-9a-z]{{20}}) "
    r"exp=(?P<exp>[0-9]{1,10})$"  # Unix seconds: at most year 2286, which a datetime holds
)
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class LinkError(Exception):
    """The token is unusable; the message is safe to show."""


class LinkInvalid(LinkError):
    """Malformed, tampered with, or signed with another secret."""


class LinkExpired(LinkError):
    """Valid but past its expiry."""


@dataclass(frozen=True)
class ManualTestLink:
    """What a test link grants: test-mode Verify for one agent, until `expires_at`."""

    link_id: str
    tenant_id: str
    agent_id: str
    agent_name: str
    key_id: str
    expires_at: int
    api_key: str = field(repr=False)


def new_link_id() -> str:
    return "lnk_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def key_name(link_id: str, agent_id: str, expires_at: int) -> str:
    """The registry name of a link's API key, so the links of an agent can be listed."""
    return f"{KEY_NAME_PREFIX} {link_id} {agent_id} exp={expires_at}"


def parse_key_name(name: str) -> tuple[str, str, int] | None:
    """(link id, agent id, expiry) of a link key's name, or None for any other key."""
    match = _KEY_NAME.fullmatch(name)
    if match is None:
        return None
    return match["link"], match["agent"], int(match["exp"])


class LinkCodec:
    """Issues and checks tokens under one console secret."""

    def __init__(self, secret: bytes) -> None:
        self._mac_key = _derive(secret, b"behalf-console test-link mac")
        self._aead = AESGCM(_derive(secret, b"behalf-console test-link key"))

    def encode(self, link: ManualTestLink) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, link.api_key.encode(), _aad(link))
        payload = {
            "lid": link.link_id,
            "ten": link.tenant_id,
            "agt": link.agent_id,
            "name": link.agent_name,
            "kid": link.key_id,
            "exp": link.expires_at,
            "mode": "test",
            "ek": _b64(nonce + sealed),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        signed = f"{VERSION}.{body}"
        return f"{signed}.{_b64(self._mac(signed))}"

    def decode(self, token: str, now: float) -> ManualTestLink:
        """The link, or LinkInvalid / LinkExpired. The MAC is checked before anything else."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise LinkInvalid("this test link is not valid")
        version, body, mac = token.split(".")
        if version != VERSION:
            raise LinkInvalid("this test link is not valid")
        try:
            given = _unb64(mac)
        except ValueError:
            raise LinkInvalid("this test link is not valid") from None
        if not hmac.compare_digest(given, self._mac(f"{version}.{body}")):
            raise LinkInvalid("this test link is not valid")
        try:
            payload = json.loads(_unb64(body))
            expires_at = int(payload["exp"])
            link_fields = {
                "link_id": str(payload["lid"]),
                "tenant_id": str(payload["ten"]),
                "agent_id": str(payload["agt"]),
                "agent_name": str(payload["name"]),
                "key_id": str(payload["kid"]),
                "expires_at": expires_at,
            }
            if payload["mode"] != "test":
                raise ValueError("not a test-mode link")
            sealed = _unb64(payload["ek"])
        except (ValueError, KeyError, TypeError):
            raise LinkInvalid("this test link is not valid") from None
        if now >= expires_at:
            raise LinkExpired("this test link has expired")
        probe = ManualTestLink(api_key="", **link_fields)  # type: ignore[arg-type]
        try:
            api_key = self._aead.decrypt(sealed[:12], sealed[12:], _aad(probe)).decode()
        except (InvalidTag, ValueError):
            raise LinkInvalid("this test link is not valid") from None
        return ManualTestLink(api_key=api_key, **link_fields)  # type: ignore[arg-type]

    def _mac(self, signed: str) -> bytes:
        return hmac.new(self._mac_key, signed.encode(), hashlib.sha256).digest()


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _aad(link: ManualTestLink) -> bytes:
    return f"{link.link_id}|{link.tenant_id}|{link.agent_id}|{link.key_id}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
