"""TLS on gRPC hops: server credentials that follow rotated files, and channel credentials.

A listener given a certificate and key serves TLS; given a client CA as well, it requires every
caller to present a certificate that CA signed (mutual TLS), and the names in that certificate
are the caller's service identity (`context.peer_identities()` in a handler).

Rotation: a server re-reads its files when one of them changes (checked at each new
connection's handshake, by file status, so an unchanged set costs three `stat` calls); files
that do not form a valid set (a new certificate before its key arrives) are logged and the
previous set is served until they do. Connections already open keep the certificate they
started with. Outgoing channels read their files once, at start: rotating a client certificate
or a CA bundle is a restart (make the new CA trusted everywhere before issuing from it).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import structlog
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from behalf.common.config import ConfigError
from behalf.common.tracing import client_interceptors

_log = structlog.get_logger("tls")

FileStamp = tuple[tuple[int, int, int], ...]


class TlsFileError(ConfigError):
    """A certificate or key file is unreadable or malformed; `path` is the file at fault."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ServerTls:
    """The PEM files a listener serves TLS with; a `client_ca_file` makes mutual TLS required."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca_file is not None

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.cert_file, self.key_file, *filter(None, (self.client_ca_file,)))

    def configuration(self) -> tuple[grpc.ServerCertificateConfiguration, x509.Certificate]:
        """The files' current contents, checked (the key matches the certificate), and the
        certificate they serve."""
        chain, leaf = _read_certificates(self.cert_file)
        key_pem = _read_key_matching(self.key_file, leaf, self.cert_file)
        client_ca = _read_certificates(self.client_ca_file)[0] if self.client_ca_file else None
        configuration = grpc.ssl_server_certificate_configuration(
            [(key_pem, chain)], root_certificates=client_ca
        )
        return configuration, leaf

    def credentials(self) -> grpc.ServerCredentials:
        """Credentials that serve the current files and re-read them when they change."""
        reloader = _Reloader(self)
        return grpc.dynamic_ssl_server_credentials(
            reloader.initial,
            # grpc calls the fetcher for a new configuration and treats None as "unchanged";
            # the stubs leave None out of its return type.
            reloader.fetch,  # type: ignore[arg-type]
            require_client_authentication=self.mutual,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The same files for an HTTP listener (TLS 1.2+; a client certificate required when
        mutual). Read once: an HTTP listener picks up renewed files on restart."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.client_ca_file)
        return context

    def stamp(self) -> FileStamp:
        """What identifies the files' current versions (inode, mtime, size); OSError if gone."""
        stats = (os.stat(path) for path in self.files)
        return tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)


@dataclass(frozen=True)
class ChannelTls:
    """The PEM files an outgoing channel trusts servers by and, for mutual TLS, presents."""

    ca_file: Path
    client_cert_file: Path | None = None
    client_key_file: Path | None = None

    @property
    def mutual(self) -> bool:
        return self.client_cert_file is not None

    def credentials(self) -> grpc.ChannelCredentials:
        """The files read and checked now; they are not re-read (rotation is a restart)."""
        root = _read_certificates(self.ca_file)[0]
        if self.client_cert_file is None or self.client_key_file is None:
            return grpc.ssl_channel_credentials(root_certificates=root)
        chain, leaf = _read_certificates(self.client_cert_file)
        key_pem = _read_key_matching(self.client_key_file, leaf, self.client_cert_file)
        return grpc.ssl_channel_credentials(
            root_certificates=root, private_key=key_pem, certificate_chain=chain
        )


def open_channel(
    target: str,
    tls: ChannelTls | None,
    *,
    options: Sequence[tuple[str, object]] = (),
) -> grpc.aio.Channel:
    """An aio channel to another service: TLS when `tls` is given, else plaintext; traced
    when tracing is on (behalf.common.tracing)."""
    interceptors = client_interceptors() or None
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, tls.credentials(), options=options, interceptors=interceptors
    )


class _Reloader:
    """grpc's certificate fetcher: a new configuration when the files changed, else None.

    grpc calls `fetch` from its own threads at each handshake; it must not raise.
    """

    def __init__(self, tls: ServerTls) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._stamp = tls.stamp()
        self.initial = self._load()
        self._refused: FileStamp | None = None

    def _load(self) -> grpc.ServerCertificateConfiguration:
        configuration, leaf = self._tls.configuration()
        _log.info(
            "tls_certificate_loaded",
            names=_names(leaf),
            expires=leaf.not_valid_after_utc.isoformat(),
            mutual=self._tls.mutual,
        )
        return configuration

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        try:
            stamp = self._tls.stamp()
        except OSError:
            return None  # mid-swap, or removed: keep serving what was loaded
        with self._lock:
            if stamp == self._stamp or stamp == self._refused:
                return None
            try:
                configuration = self._load()
            except ConfigError as exc:
                self._refused = stamp
                _log.warning("tls_reload_refused", reason=str(exc))
                return None
            except Exception as exc:
                self._refused = stamp
                _log.error("tls_reload_failed", error=repr(exc))
                return None
            self._stamp = stamp
            return configuration


def _names(leaf: x509.Certificate) -> list[str]:
    """What a certificate is for: its subject alternative names, else its subject."""
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [leaf.subject.rfc4514_string()]
    return [str(name.value) for name in names]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFileError(path, f"cannot read {path}: {exc.strerror or exc}") from None


def _read_certificates(path: Path) -> tuple[bytes, x509.Certificate]:
    """The file's PEM bytes and its first certificate (the leaf of a chain)."""
    data = _read(path)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TlsFileError(path, f"{path} holds no PEM certificate") from None
    return data, certificates[0]


def _read_key_matching(path: Path, leaf: x509.Certificate, cert_path: Path) -> bytes:
    """The PEM private key in `path`, checked to belong to `leaf`."""
    data = _read(path)
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsFileError(path, f"{path} holds an encrypted private key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsFileError(path, f"{path} holds no PEM private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise TlsFileError(path, f"the key in {path} does not match the certificate in {cert_path}")
    return data
