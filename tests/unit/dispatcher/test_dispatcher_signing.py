"""Signatures we make verify with the public standardwebhooks library, unchanged."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from behalf.dispatcher.signing import SigningError, sign, signed_headers

SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 24).decode()

secrets_strategy = st.binary(min_size=1, max_size=64).map(
    lambda raw: "whsec_" + base64.b64encode(raw).decode()
)
json_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300).map(
    lambda s: ('{"data":' + repr(s) + "}").encode()
)


@settings(max_examples=200, deadline=None)
@given(
    secret=secrets_strategy,
    webhook_id=st.from_regex(r"msg_[0-9a-z]{1,30}", fullmatch=True),
    body=json_text,
    skew=st.integers(min_value=-200, max_value=200),
)
def test_every_signature_verifies_with_the_public_library(secret, webhook_id, body, skew):
    """For any secret, id, body and recent timestamp, Webhook.verify accepts our headers."""
    timestamp = int(time.time()) + skew
    headers = signed_headers(webhook_id, timestamp, body, [secret])
    Webhook(secret).verify(body, headers, json_parse=False)


def test_rotation_sends_both_signatures_and_each_secret_verifies():
    """During a rotation the header holds two signatures; old and new secret both verify."""
    body = b'{"type":"agent.created"}'
    headers = signed_headers("msg_1", int(time.time()), body, [SECRET_A, SECRET_B])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in headers["webhook-signature"].split(" "))
    Webhook(SECRET_A).verify(body, headers)
    Webhook(SECRET_B).verify(body, headers)


def test_tampered_body_fails():
    """Changing one byte of the body breaks verification."""
    body = b'{"type":"verification.allowed"}'
    headers = signed_headers("msg_1", int(time.time()), body, [SECRET_A])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_A).verify(b'{"type":"verification.denied"}', headers)


def test_old_timestamp_fails():
    """A timestamp older than the library's five-minute tolerance is refused."""
    body = b"{}"
    headers = signed_headers("msg_1", int(time.time()) - 3600, body, [SECRET_A])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_A).verify(body, headers)


def test_wrong_secret_fails():
    """A receiver holding an unrelated secret does not verify."""
    body = b"{}"
    headers = signed_headers("msg_1", int(time.time()), body, [SECRET_A])
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET_B).verify(body, headers)


def test_signature_is_hmac_of_id_timestamp_body():
    """The signature is base64 HMAC-SHA256 over "id.timestamp.body" with the decoded secret."""
    import hashlib
    import hmac

    digest = hmac.new(b"a" * 32, b"msg_x.1700000000.{}", hashlib.sha256).digest()
    assert sign("msg_x", 1700000000, b"{}", [SECRET_A]) == "v1," + base64.b64encode(digest).decode()


def test_no_or_bad_secret_is_an_error_without_the_secret_in_it():
    """Missing or malformed secrets raise SigningError whose text does not echo the secret."""
    with pytest.raises(SigningError):
        sign("msg_1", 1, b"{}", [])
    with pytest.raises(SigningError) as info:
        sign("msg_1", 1, b"{}", ["whsec_"])
    assert "whsec_" not in str(info.value)
