"""TLS unless loopback: the target rule, the opt-out, and which channel the SDK and CLI open."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from behalf import AsyncBehalf, Behalf
from behalf._transport import (
    INSECURE_ENV,
    channel_credentials,
    insecure_from_env,
    is_loopback_target,
    tls_credentials,
)
from behalf.cli import app
from behalf.v1 import verifier_pb2_grpc
from tests.unit.sdk.fake_server import Fake, _Verifier, decision

runner = CliRunner()

LOOPBACK = [
    "127.0.0.1:50052",
    "127.255.0.9:1",
    "localhost:1",
    "LOCALHOST",
    "[::1]:50052",
    "[::1]",
    "::1",
    "unix:/tmp/v.sock",
    "unix:///tmp/v.sock",
    "dns:///localhost:50052",
    "ipv4:127.0.0.2:5",
    "ipv4:127.0.0.1:1,127.0.0.2:2",
    "ipv6:[::1]:5",
]
REMOTE = [
    "verifier.behalf:50052",
    "10.0.0.1:50052",
    "example.com",
    "127.example.com:1",
    "localhost.example.com:1",
    "dns:///verifier:443",
    "dns://8.8.8.8/verifier:443",
    "ipv4:127.0.0.1:1,10.0.0.1:2",  # every address must be loopback
    "[::ffff:127.0.0.1]:1",
    "0.0.0.0:50052",
    "[::]:50052",
    "",
]


@pytest.fixture(autouse=True)
def _no_transport_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No opt-out, CA file or profile leaks in from the developer's environment."""
    monkeypatch.delenv(INSECURE_ENV, raising=False)
    monkeypatch.delenv("BEHALF_CA_FILE", raising=False)
    monkeypatch.setenv("BEHALF_CONFIG", str(tmp_path / "absent.toml"))


@pytest.mark.parametrize("target", LOOPBACK)
def test_loopback_targets(target: str) -> None:
    """localhost, 127.0.0.0/8, ::1 and unix sockets count as loopback (as in the TS SDK)."""
    assert is_loopback_target(target)


@pytest.mark.parametrize("target", REMOTE)
def test_other_targets_are_not_loopback(target: str) -> None:
    """Names, other addresses, look-alikes and mixed address lists are not loopback."""
    assert not is_loopback_target(target)


def test_credentials_by_target() -> None:
    """Loopback gets plaintext, anything else TLS; the opt-out and explicit credentials rule."""
    assert channel_credentials("127.0.0.1:50052") is None
    assert isinstance(channel_credentials("verifier.behalf:443"), grpc.ChannelCredentials)
    assert channel_credentials("verifier.behalf:443", insecure=True) is None
    explicit = grpc.ssl_channel_credentials()
    assert channel_credentials("127.0.0.1:1", explicit) is explicit
    assert channel_credentials("verifier.behalf:443", explicit, insecure=True) is explicit


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), ("0", False), ("false", False), ("", False)],
)
def test_insecure_env(value: str, expected: bool) -> None:
    """BEHALF_INSECURE reads 1/true/yes as on and 0/false/empty as off."""
    assert insecure_from_env({INSECURE_ENV: value}) is expected


def test_insecure_env_refuses_nonsense() -> None:
    """An unreadable BEHALF_INSECURE is an error, not a silent guess either way."""
    with pytest.raises(ValueError, match=INSECURE_ENV):
        insecure_from_env({INSECURE_ENV: "maybe"})


class Recorder:
    """Stands in for grpc's channel constructors and records which one each target got."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: object) -> None:
        self.kinds: dict[str, str] = {}
        real_insecure = module.insecure_channel  # type: ignore[attr-defined]

        def insecure(target: str, *args: object, **kwargs: object) -> object:
            self.kinds[target] = "plaintext"
            return real_insecure("127.0.0.1:1")

        def secure(target: str, *args: object, **kwargs: object) -> object:
            self.kinds[target] = "tls"
            return real_insecure("127.0.0.1:1")

        monkeypatch.setattr(module, "insecure_channel", insecure)
        monkeypatch.setattr(module, "secure_channel", secure)


async def test_sdk_channel_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK opens plaintext to loopback and TLS elsewhere, unless told `insecure=True`."""
    recorder = Recorder(monkeypatch, grpc.aio)
    default = AsyncBehalf("k", target="verifier.example.com:443", registry_target="127.0.0.1:1")
    default._channel(default.target)
    default._channel(default.registry_target)
    opted_out = AsyncBehalf("k", target="10.1.2.3:50052", insecure=True)
    opted_out._channel(opted_out.target)
    assert recorder.kinds == {
        "verifier.example.com:443": "tls",
        "127.0.0.1:1": "plaintext",
        "10.1.2.3:50052": "plaintext",
    }
    for client in (default, opted_out):
        await client.close()


async def test_sdk_never_opens_plaintext_off_loopback_without_opt_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the opt-out, a non-loopback target never reaches grpc's insecure_channel."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("plaintext channel to a non-loopback target")

    monkeypatch.setattr(grpc.aio, "insecure_channel", refuse)
    for target in REMOTE[:-1]:
        client = AsyncBehalf("k", target=target)
        channel = client._channel(target)
        assert isinstance(channel, grpc.aio.Channel)
        await client.close()


async def test_sdk_env_opt_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """BEHALF_INSECURE=1 opts out when `insecure` is not passed; an explicit False wins."""
    recorder = Recorder(monkeypatch, grpc.aio)
    monkeypatch.setenv(INSECURE_ENV, "1")
    env_client = AsyncBehalf("k", target="a.example:1")
    env_client._channel(env_client.target)
    strict = AsyncBehalf("k", target="b.example:1", insecure=False)
    strict._channel(strict.target)
    assert recorder.kinds == {"a.example:1": "plaintext", "b.example:1": "tls"}
    monkeypatch.setenv(INSECURE_ENV, "maybe")
    with pytest.raises(ValueError, match=INSECURE_ENV):
        AsyncBehalf("k", target="c.example:1")
    for client in (env_client, strict):
        await client.close()


def test_blocking_client_passes_the_opt_out() -> None:
    """`Behalf(insecure=True)` reaches the AsyncBehalf it runs."""
    with Behalf("k", target="verifier.example.com:443", insecure=True) as client:
        assert client.aio._insecure is True


def _cli(recorder_target: str, *flags: str, env: dict[str, str] | None = None):
    return runner.invoke(
        app,
        [*flags, "--timeout", "1", "agents", "list"],
        env={"BEHALF_API_KEY": "k", "BEHALF_REGISTRY": recorder_target, **(env or {})},
    )


@pytest.mark.parametrize(
    ("target", "flags", "env", "kind"),
    [
        ("127.0.0.1:1", (), {}, "plaintext"),
        ("registry.example.com:443", (), {}, "tls"),
        ("registry.example.com:443", ("--insecure",), {}, "plaintext"),
        ("registry.example.com:443", (), {INSECURE_ENV: "1"}, "plaintext"),
    ],
)
def test_cli_channel_kinds(
    monkeypatch: pytest.MonkeyPatch, target: str, flags: tuple[str, ...], env, kind: str
) -> None:
    """The CLI follows the SDK's rule: TLS unless loopback, `--insecure` or BEHALF_INSECURE=1."""
    recorder = Recorder(monkeypatch, grpc)
    result = _cli(target, *flags, env=env)
    assert result.exit_code == 3, result.output  # nothing answers; only the channel matters
    assert recorder.kinds == {target: kind}


def test_cli_ca_file_means_tls_even_to_loopback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With --ca-file every target gets TLS; an unreadable CA file is a one-line error."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(_self_signed()[0])
    recorder = Recorder(monkeypatch, grpc)
    _cli("127.0.0.1:1", "--ca-file", str(ca))
    assert recorder.kinds == {"127.0.0.1:1": "tls"}
    missing = _cli("127.0.0.1:1", "--ca-file", str(tmp_path / "nope.pem"))
    assert missing.exit_code == 3
    assert "CA file" in missing.stderr and missing.stderr.strip().count("\n") == 0


def test_cli_refuses_unreadable_opt_out() -> None:
    """BEHALF_INSECURE=maybe stops the CLI with a one-line error."""
    result = _cli("registry.example.com:443", env={INSECURE_ENV: "maybe"})
    assert result.exit_code == 3
    assert INSECURE_ENV in result.stderr


# -- a real TLS round trip with a private CA ---------------------------------------------------


def _self_signed() -> tuple[bytes, bytes]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key (both PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
async def tls_fake(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Fake, Path]]:
    """A Verify fake that speaks only TLS, and the PEM file of its self-signed certificate."""
    cert, key = _self_signed()
    ca = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.write_bytes(cert)
    state = Fake()
    server = grpc.aio.server()
    verifier_pb2_grpc.add_VerifierServiceServicer_to_server(_Verifier(state), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    state.target = f"localhost:{port}"
    yield state, ca
    await server.stop(0)


async def test_sdk_and_cli_speak_tls_with_a_private_ca(tls_fake: tuple[Fake, Path]) -> None:
    """With the CA's roots, the SDK and `behalf --ca-file` get decisions from a TLS server;
    plaintext to the same server gets none."""
    fake, ca = tls_fake
    fake.script(decision("ALLOW"), decision("ALLOW"))
    async with AsyncBehalf("k", target=fake.target, credentials=tls_credentials(ca)) as client:
        assert (await client.verify("agt_1", "purchase")).outcome == "ALLOW"
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["--ca-file", str(ca), "verify", "agt_1", "purchase"],
        env={"BEHALF_API_KEY": "k", "BEHALF_VERIFIER": fake.target},
    )
    assert result.exit_code == 0, result.output
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["--timeout", "1", "verify", "agt_1", "purchase"],
        env={"BEHALF_API_KEY": "k", "BEHALF_VERIFIER": fake.target},
    )
    assert result.exit_code == 3  # loopback defaults to plaintext, which a TLS server refuses
