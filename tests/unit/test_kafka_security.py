"""Kafka connection security read from the environment and turned into aiokafka options."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from behalf.common.config import ConfigError, Env
from behalf.common.kafka import PLAINTEXT, KafkaSecurity
from behalf.common.settings import KafkaSettings, kafka_security_from_env

PASSWORD = "scram-password-0123456789"
BASE_ENV = {"BEHALF_KAFKA_BOOTSTRAP": "127.0.0.1:9093"}


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("kafka-ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _sasl_ssl(ca_file: str, **extra: str) -> dict[str, str]:
    return {
        "BEHALF_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BEHALF_KAFKA_CA_FILE": ca_file,
        "BEHALF_KAFKA_USERNAME": "behalf-verifier",
        "BEHALF_KAFKA_PASSWORD": PASSWORD,
        **extra,
    }


def _read(**env: str) -> KafkaSecurity:
    return kafka_security_from_env(Env(env))


def test_default_is_plaintext() -> None:
    """With nothing set, clients connect in PLAINTEXT, as `make run` and the tests expect."""
    assert _read() == PLAINTEXT
    assert PLAINTEXT.client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_becomes_verified_tls_and_scram_options(ca_file: str) -> None:
    """SASL_SSL gives a context that verifies the broker and its host name, and SCRAM-SHA-512
    credentials by default."""
    options = _read(**_sasl_ssl(ca_file)).client_options()
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "behalf-verifier",
        "sasl_plain_password": PASSWORD,
    }


def test_ssl_with_client_certificate_loads_it(tmp_path: Path) -> None:
    """SSL with a client certificate and key (mutual TLS) loads both and sends no SASL."""
    ca = trustme.CA()
    ca_path, cert_path, key_path = (str(tmp_path / n) for n in ("ca.pem", "c.pem", "k.pem"))
    ca.cert_pem.write_to_path(ca_path)
    issued = ca.issue_cert("behalf-dispatcher")
    issued.cert_chain_pems[0].write_to_path(cert_path)
    issued.private_key_pem.write_to_path(key_path)
    security = _read(
        BEHALF_KAFKA_SECURITY_PROTOCOL="ssl",
        BEHALF_KAFKA_CA_FILE=ca_path,
        BEHALF_KAFKA_CERT_FILE=cert_path,
        BEHALF_KAFKA_KEY_FILE=key_path,
    )
    assert security.protocol == "SSL"
    assert set(security.client_options()) == {"security_protocol", "ssl_context"}


def test_kafka_settings_hold_the_security(ca_file: str) -> None:
    """The Kafka settings every service holds carry the security read from the environment."""
    env = Env({**BASE_ENV, **_sasl_ssl(ca_file, BEHALF_KAFKA_SASL_MECHANISM="scram-sha-256")})
    security = KafkaSettings.from_env(env).security
    assert (security.protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")


def test_password_never_in_repr(ca_file: str) -> None:
    """Neither the security value nor the Kafka settings holding it print the SCRAM password."""
    settings = KafkaSettings.from_env(Env({**BASE_ENV, **_sasl_ssl(ca_file)}))
    assert PASSWORD not in repr(settings.security)
    assert PASSWORD not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BEHALF_KAFKA_SECURITY_PROTOCOL": "TLS"},
            "BEHALF_KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
        ),
        (
            {"BEHALF_KAFKA_USERNAME": "behalf-verifier", "BEHALF_KAFKA_PASSWORD": PASSWORD},
            "BEHALF_KAFKA_USERNAME is set but BEHALF_KAFKA_SECURITY_PROTOCOL=PLAINTEXT",
        ),
        (
            {"BEHALF_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "BEHALF_KAFKA_CA_FILE": "/x"},
            "BEHALF_KAFKA_CA_FILE is set but BEHALF_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
        ),
        (
            {"BEHALF_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "BEHALF_KAFKA_PASSWORD": PASSWORD},
            "BEHALF_KAFKA_USERNAME is required",
        ),
        (
            {"BEHALF_KAFKA_SECURITY_PROTOCOL": "SSL", "BEHALF_KAFKA_CA_FILE": "/no/such/ca.pem"},
            "BEHALF_KAFKA_CA_FILE names no readable file",
        ),
    ],
)
def test_bad_settings_fail_with_one_line(env: dict[str, str], message: str) -> None:
    """A bad protocol, a setting the protocol ignores, or a missing file is one clear line."""
    with pytest.raises(ConfigError, match=message) as caught:
        _read(**env)
    assert "\n" not in str(caught.value)


def test_weak_or_missing_password_is_refused_without_echo(ca_file: str) -> None:
    """A short SCRAM password is refused, and the error does not repeat it."""
    with pytest.raises(ConfigError, match="BEHALF_KAFKA_PASSWORD is required") as caught:
        _read(**_sasl_ssl(ca_file, BEHALF_KAFKA_PASSWORD="hunter2"))
    assert "hunter2" not in str(caught.value)


def test_only_scram_mechanisms(ca_file: str) -> None:
    """PLAIN and other SASL mechanisms are refused: only SCRAM-SHA-256 and SCRAM-SHA-512."""
    with pytest.raises(ConfigError, match="must be SCRAM-SHA-256 or SCRAM-SHA-512"):
        _read(**_sasl_ssl(ca_file, BEHALF_KAFKA_SASL_MECHANISM="PLAIN"))


def test_certificate_without_key_is_refused(ca_file: str) -> None:
    """A client certificate without its key (or the reverse) is refused."""
    with pytest.raises(ConfigError, match="BEHALF_KAFKA_CERT_FILE and BEHALF_KAFKA_KEY_FILE"):
        _read(**_sasl_ssl(ca_file, BEHALF_KAFKA_CERT_FILE=ca_file))


def test_unparseable_ca_file_names_the_variable(tmp_path: Path) -> None:
    """A CA file that holds no certificate stops startup with a line naming the variable."""
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="BEHALF_KAFKA_CA_FILE could not be loaded"):
        _read(BEHALF_KAFKA_SECURITY_PROTOCOL="SSL", BEHALF_KAFKA_CA_FILE=str(bogus))
