"""Certificates made for a test: a CA for servers, a CA for service clients, and their files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
import trustme

# How the harness addresses every service (ServiceProcess.target), so the name servers prove.
SERVER_NAMES = ("127.0.0.1", "localhost")
SERVICE_IDENTITY = "services.behalf.test"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files in one folder: server CA and certificate, client CA and a service's
    certificate (its identity `SERVICE_IDENTITY`)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_ca: Path
    client_cert: Path
    client_key: Path

    def env(self, *, mutual: bool) -> list[tuple[str, str]]:
        """Settings that make every service serve TLS and use it to the others; with `mutual`
        each listener also requires, and each service presents, a client certificate."""
        env = [
            ("BEHALF_TLS_CERT_FILE", str(self.server_cert)),
            ("BEHALF_TLS_KEY_FILE", str(self.server_key)),
            ("BEHALF_TLS_CA_FILE", str(self.ca)),
        ]
        if mutual:
            env += [
                ("BEHALF_TLS_CLIENT_CA_FILE", str(self.client_ca)),
                ("BEHALF_TLS_CLIENT_CERT_FILE", str(self.client_cert)),
                ("BEHALF_TLS_CLIENT_KEY_FILE", str(self.client_key)),
            ]
        return env

    def credentials(self, *, client: bool = False) -> grpc.ChannelCredentials:
        """A test client's credentials: trusting the server CA, presenting the service
        certificate when `client`."""
        if not client:
            return grpc.ssl_channel_credentials(self.ca.read_bytes())
        return grpc.ssl_channel_credentials(
            self.ca.read_bytes(), self.client_key.read_bytes(), self.client_cert.read_bytes()
        )


def issue(folder: Path, *, client_identity: str = SERVICE_IDENTITY) -> TlsFiles:
    """Two fresh CAs and a certificate from each, written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server = server_ca.issue_cert(*SERVER_NAMES)
    client = client_ca.issue_cert(client_identity)
    files = TlsFiles(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_ca=folder / "client-ca.pem",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    server_ca.cert_pem.write_to_path(str(files.ca))
    _write_chain(server, files.server_cert)
    server.private_key_pem.write_to_path(str(files.server_key))
    client_ca.cert_pem.write_to_path(str(files.client_ca))
    _write_chain(client, files.client_cert)
    client.private_key_pem.write_to_path(str(files.client_key))
    return files


def _write_chain(leaf: trustme.LeafCert, path: Path) -> None:
    path.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
