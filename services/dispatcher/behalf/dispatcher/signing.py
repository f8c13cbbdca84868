"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

from standardwebhooks.webhooks import Webhook

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class SigningError(ValueError):
    """A signing secret is missing or malformed; the message never contains the secret."""


@lru_cache(maxsize=4096)
def _signer(secret: str) -> Webhook:
    try:
        return Webhook(secret)
    except Exception as exc:  # binascii.Error, EmptyWebhookSecretError
        raise SigningError("malformed webhook signing secret") from exc


def sign(webhook_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """`v1,<base64 HMAC-SHA256("id.timestamp.body")>` per secret, space-separated.

    The current secret comes first; during a rotation the previous one follows, so a receiver
    holding either secret verifies the message.
    """
    if not secrets:
        raise SigningError("no signing secret")
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    text = body.decode("utf-8")
    return " ".join(_signer(s).sign(webhook_id, moment, text) for s in secrets)


def signed_headers(
    webhook_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> dict[str, str]:
    """The three Standard Webhooks headers plus the JSON content type."""
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(webhook_id, timestamp, body, secrets),
        "content-type": "application/json",
    }
