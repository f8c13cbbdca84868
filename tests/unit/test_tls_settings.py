"""TLS settings: which variables turn TLS on, and one-line errors for files that cannot serve."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from behalf.common.config import ConfigError, Env
from behalf.common.settings import channel_tls_from_env, server_tls_from_env
from behalf.common.tls import ChannelTls, ServerTls
from behalf.console.settings import ConsoleSettings
from behalf.dispatcher.settings import DispatcherSettings
from behalf.registry.settings import RegistrySettings
from behalf.verifier.settings import VerifierSettings
from tests.harness.certs import TlsFiles, issue

BASE_ENV = {
    "BEHALF_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "BEHALF_DATABASE_URL": "postgresql://localhost/behalf",
    "BEHALF_VERIFIER_TOKEN": "verifier-token-0123456789-0123456789",
    "BEHALF_DISPATCHER_TOKEN": "dispatcher-token-0123456789-0123456789",
    "BEHALF_VERIFIER_TOKEN_DIGESTS": "01" * 32,
    "BEHALF_DISPATCHER_TOKEN_DIGESTS": "02" * 32,
    "BEHALF_OPERATOR_TOKEN_DIGESTS": "03" * 32,
    "BEHALF_MASTER_KEY": base64.b64encode(bytes(32)).decode(),
    "BEHALF_CONSOLE_SECRET": "console-secret-0123456789-0123456789",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return issue(tmp_path_factory.mktemp("tls"))


def test_nothing_set_means_plaintext() -> None:
    """Without any BEHALF_TLS_* variable listeners and channels stay plaintext."""
    assert server_tls_from_env(Env({})) is None
    assert channel_tls_from_env(Env({})) is None


def test_server_and_channel_files_are_read(files: TlsFiles) -> None:
    """Certificate, key and client CA make a mutual-TLS listener; CA, client certificate and
    key make mutual-TLS channels."""
    server = server_tls_from_env(Env(dict(files.env(mutual=True))))
    channel = channel_tls_from_env(Env(dict(files.env(mutual=True))))
    assert server == ServerTls(files.server_cert, files.server_key, files.client_ca)
    assert server.mutual
    assert channel == ChannelTls(files.ca, files.client_cert, files.client_key)
    assert channel.mutual
    assert not server_tls_from_env(Env(dict(files.env(mutual=False)))).mutual


@pytest.mark.parametrize("settings", [RegistrySettings, VerifierSettings, DispatcherSettings])
def test_every_service_listens_with_tls_when_told(settings, files: TlsFiles) -> None:
    """The registry, verifier and dispatcher all read the listener's TLS files."""
    loaded = settings.from_env(Env({**BASE_ENV, **dict(files.env(mutual=True))}))
    assert loaded.host.tls == ServerTls(files.server_cert, files.server_key, files.client_ca)


@pytest.mark.parametrize("settings", [VerifierSettings, DispatcherSettings, ConsoleSettings])
def test_every_client_service_dials_with_tls_when_told(settings, files: TlsFiles) -> None:
    """The verifier, dispatcher and console read the outgoing channels' TLS files."""
    loaded = settings.from_env(Env({**BASE_ENV, **dict(files.env(mutual=True))}))
    assert loaded.channel_tls == ChannelTls(files.ca, files.client_cert, files.client_key)
    assert settings.from_env(Env(BASE_ENV)).channel_tls is None


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("BEHALF_TLS_KEY_FILE", "BEHALF_TLS_CERT_FILE and BEHALF_TLS_KEY_FILE are set together"),
        ("BEHALF_TLS_CERT_FILE", "BEHALF_TLS_CERT_FILE and BEHALF_TLS_KEY_FILE are set together"),
    ],
)
def test_half_a_server_pair_is_refused(files: TlsFiles, unset: str, message: str) -> None:
    """A certificate without its key, or a key without its certificate, is a ConfigError."""
    env = {k: v for k, v in files.env(mutual=False) if k != unset}
    with pytest.raises(ConfigError, match=message):
        server_tls_from_env(Env(env))


def test_client_ca_without_a_server_certificate_is_refused(files: TlsFiles) -> None:
    """Mutual TLS is TLS first: a client CA alone is a ConfigError, not a plaintext listener."""
    with pytest.raises(ConfigError, match="BEHALF_TLS_CLIENT_CA_FILE needs"):
        server_tls_from_env(Env({"BEHALF_TLS_CLIENT_CA_FILE": str(files.client_ca)}))


def test_client_certificate_without_a_ca_is_refused(files: TlsFiles) -> None:
    """A client certificate with no CA to trust servers by is a ConfigError."""
    env = {
        "BEHALF_TLS_CLIENT_CERT_FILE": str(files.client_cert),
        "BEHALF_TLS_CLIENT_KEY_FILE": str(files.client_key),
    }
    with pytest.raises(ConfigError, match="BEHALF_TLS_CLIENT_CERT_FILE needs BEHALF_TLS_CA_FILE"):
        channel_tls_from_env(Env(env))
    with pytest.raises(ConfigError, match="are set together"):
        channel_tls_from_env(
            Env({"BEHALF_TLS_CA_FILE": str(files.ca), "BEHALF_TLS_CLIENT_KEY_FILE": "x"})
        )


def test_missing_file_is_one_line_naming_the_variable(files: TlsFiles, tmp_path: Path) -> None:
    """An unreadable file is a one-line ConfigError that names its variable and path."""
    missing = tmp_path / "nope.pem"
    env = {**dict(files.env(mutual=False)), "BEHALF_TLS_CERT_FILE": str(missing)}
    with pytest.raises(ConfigError) as caught:
        server_tls_from_env(Env(env))
    assert str(caught.value) == (
        f"BEHALF_TLS_CERT_FILE: cannot read {missing}: No such file or directory"
    )
    env = {"BEHALF_TLS_CA_FILE": str(tmp_path)}
    with pytest.raises(ConfigError, match=r"^BEHALF_TLS_CA_FILE: cannot read .*: Is a directory$"):
        channel_tls_from_env(Env(env))


def test_malformed_files_are_refused(files: TlsFiles, tmp_path: Path) -> None:
    """A file with no certificate, a key that is not PEM, or an encrypted key is refused."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    server = dict(files.env(mutual=False))
    with pytest.raises(ConfigError, match=r"^BEHALF_TLS_CERT_FILE: .* holds no PEM certificate$"):
        server_tls_from_env(Env({**server, "BEHALF_TLS_CERT_FILE": str(junk)}))
    with pytest.raises(ConfigError, match=r"^BEHALF_TLS_KEY_FILE: .* holds no PEM private key$"):
        server_tls_from_env(Env({**server, "BEHALF_TLS_KEY_FILE": str(junk)}))
    with pytest.raises(ConfigError, match=r"^BEHALF_TLS_CLIENT_CA_FILE: .* no PEM certificate$"):
        server_tls_from_env(Env({**server, "BEHALF_TLS_CLIENT_CA_FILE": str(junk)}))
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(_encrypted(files.server_key))
    with pytest.raises(ConfigError, match=r"^BEHALF_TLS_KEY_FILE: .* an encrypted private key$"):
        server_tls_from_env(Env({**server, "BEHALF_TLS_KEY_FILE": str(encrypted)}))


def test_a_key_that_does_not_match_its_certificate_is_refused(files: TlsFiles) -> None:
    """The server key must belong to the server certificate, the client key to the client's."""
    server = {**dict(files.env(mutual=False)), "BEHALF_TLS_KEY_FILE": str(files.client_key)}
    with pytest.raises(ConfigError, match=r"^BEHALF_TLS_KEY_FILE: the key in .* does not match"):
        server_tls_from_env(Env(server))
    client = {**dict(files.env(mutual=True)), "BEHALF_TLS_CLIENT_KEY_FILE": str(files.server_key)}
    with pytest.raises(ConfigError, match=r"^BEHALF_TLS_CLIENT_KEY_FILE: the key in .*"):
        channel_tls_from_env(Env(client))


def _encrypted(key_file: Path) -> bytes:
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
