"""Deliveries connect only to the address that passed the public-address check, per attempt."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from behalf.dispatcher.delivery import DeliverySettings, HttpDeliverer, PinnedBackend
from tests.harness.receiver import Receiver

HOST = "hooks.example.test"  # .test never resolves: only the injected resolver answers it
PUBLIC_A, PUBLIC_B = "93.184.216.34", "93.184.216.35"
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
PUBLIC = DeliverySettings(total_timeout_seconds=5.0, connect_timeout_seconds=5.0)
PRIVATE_ALLOWED = DeliverySettings(
    total_timeout_seconds=5.0, connect_timeout_seconds=5.0, allow_private_targets=True
)


class Answers:
    """A resolver that gives its answers in turn, recording what it was asked."""

    def __init__(self, *answers: Sequence[str] | OSError) -> None:
        self._answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        answer = self._answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer


class _RecordingStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, sent: list[bytes]) -> None:
        self._inner, self._sent = inner, sent

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._sent.append(buffer)
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _RecordingStream(inner, self._sent)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class Recorder(httpcore.AsyncNetworkBackend):
    """The connector: records every TCP connect and every byte sent, then uses `inner`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, failing: Iterable[str] = ()) -> None:
        self.inner = inner
        self.failing = set(failing)
        self.connects: list[tuple[str, int]] = []
        self.sent: list[bytes] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host in self.failing:
            raise httpcore.ConnectError("unreachable in this test")
        stream = await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _RecordingStream(stream, self.sent)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def canned(*responses: bytes) -> httpcore.AsyncMockBackend:
    """Every connection reads these responses in turn; nothing touches the network."""
    return httpcore.AsyncMockBackend(list(responses))


@contextlib.asynccontextmanager
async def deliverer(
    settings: DeliverySettings, resolver: Answers, connector: Recorder
) -> AsyncIterator[HttpDeliverer]:
    delivering = HttpDeliverer(settings, resolver=resolver, connector=connector)
    try:
        yield delivering
    finally:
        await delivering.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    server = await asyncio.start_server(recv.handle, "127.0.0.1", 0)
    recv.port = server.sockets[0].getsockname()[1]
    yield recv
    server.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 1)


async def test_the_connection_goes_to_the_resolved_address_with_the_original_host(
    receiver: Receiver,
) -> None:
    """A local server gets the POST at the resolver's 127.0.0.1, with Host naming the URL host."""
    resolver = Answers(["127.0.0.1"])
    connector = Recorder(httpcore.AnyIOBackend())
    async with deliverer(PRIVATE_ALLOWED, resolver, connector) as http:
        outcome = await http.post(f"http://{HOST}:{receiver.port}/hook", {}, b"{}")
    assert (outcome.status_code, outcome.error) == (200, "")
    assert resolver.asked == [(HOST, receiver.port)]
    assert connector.connects == [("127.0.0.1", receiver.port)]
    [request] = receiver.requests
    assert request.headers["host"] == f"{HOST}:{receiver.port}" and request.path == "/hook"


async def test_a_loopback_answer_is_refused_without_the_development_setting(
    receiver: Receiver,
) -> None:
    """With private targets off, a resolver answering 127.0.0.1 ends the attempt unconnected."""
    connector = Recorder(httpcore.AnyIOBackend())
    async with deliverer(PUBLIC, Answers(["127.0.0.1"]), connector) as http:
        outcome = await http.post(f"https://{HOST}:{receiver.port}/hook", {}, b"{}")
    assert outcome.permanent and outcome.status_code == 0
    assert "refused address" in outcome.error and "private" in outcome.error
    assert connector.connects == [] and receiver.requests == []


async def test_dns_rebinding_connects_only_to_the_checked_address() -> None:
    """Public, then loopback: the first attempt connects to the public address, the next nowhere."""
    resolver = Answers([PUBLIC_A], ["127.0.0.1"])
    connector = Recorder(canned(OK, OK))
    async with deliverer(PUBLIC, resolver, connector) as http:
        first = await http.post(f"https://{HOST}/hook", {}, b"{}")
        second = await http.post(f"https://{HOST}/hook", {}, b"{}")
    assert (first.status_code, first.error) == (200, "")
    assert second.permanent and "refused address" in second.error
    assert resolver.asked == [(HOST, 443), (HOST, 443)]  # once per attempt, never by httpx
    assert connector.connects == [(PUBLIC_A, 443)]
    assert sum(chunk.startswith(b"POST ") for chunk in connector.sent) == 1  # none pooled


async def test_each_attempt_connects_to_its_own_answer() -> None:
    """A host that moves between public addresses is reached at each attempt's checked answer."""
    resolver = Answers([PUBLIC_A], [PUBLIC_B], ["169.254.169.254"])
    connector = Recorder(canned(OK_CLOSE))
    async with deliverer(PUBLIC, resolver, connector) as http:
        outcomes = [await http.post(f"https://{HOST}/hook", {}, b"{}") for _ in range(3)]
    assert [o.status_code for o in outcomes] == [200, 200, 0] and outcomes[2].permanent
    assert connector.connects == [(PUBLIC_A, 443), (PUBLIC_B, 443)]


async def test_one_refused_address_in_the_answer_refuses_the_attempt() -> None:
    """A public address next to a private one (or a NAT64 form of metadata) is not enough."""
    for answer in ([PUBLIC_A, "10.0.0.1"], ["64:ff9b::a9fe:a9fe"], ["2002:a9fe:a9fe::1"]):
        connector = Recorder(canned(OK))
        async with deliverer(PUBLIC, Answers(answer), connector) as http:
            outcome = await http.post(f"https://{HOST}/hook", {}, b"{}")
        assert outcome.permanent and "refused address" in outcome.error
        assert connector.connects == []


async def test_checked_addresses_are_tried_in_the_resolvers_order() -> None:
    """When the first checked address does not connect, the next checked one is used."""
    connector = Recorder(canned(OK), failing=[PUBLIC_A])
    async with deliverer(PUBLIC, Answers([PUBLIC_A, PUBLIC_B]), connector) as http:
        outcome = await http.post(f"https://{HOST}:8443/hook", {}, b"{}")
    assert outcome.status_code == 200
    assert connector.connects == [(PUBLIC_A, 8443), (PUBLIC_B, 8443)]


async def test_an_ip_literal_is_checked_without_resolving() -> None:
    """An IP-literal URL is its own answer: public connects, an embedded metadata IP does not."""
    resolver = Answers()  # any question would fail the test
    connector = Recorder(canned(OK_CLOSE))
    async with deliverer(PUBLIC, resolver, connector) as http:
        public = await http.post(f"https://{PUBLIC_A}/hook", {}, b"{}")
        mapped = await http.post("https://[::ffff:169.254.169.254]/hook", {}, b"{}")
    assert public.status_code == 200 and mapped.permanent
    assert resolver.asked == [] and connector.connects == [(PUBLIC_A, 443)]


async def test_an_unresolvable_host_fails_and_is_retried() -> None:
    """A resolver error fails the attempt as retryable, and nothing connects."""
    connector = Recorder(canned(OK))
    async with deliverer(PUBLIC, Answers(OSError("no such host")), connector) as http:
        outcome = await http.post(f"https://{HOST}/hook", {}, b"{}")
    assert not outcome.permanent and "resolve" in outcome.error
    assert connector.connects == []


async def test_the_backend_connects_nowhere_without_a_pin() -> None:
    """Outside an attempt (no pinned address) the pinned backend refuses to connect."""
    connector = Recorder(canned(OK))
    with pytest.raises(httpcore.ConnectError):
        await PinnedBackend(connector).connect_tcp(HOST, 443)
    assert connector.connects == []


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


async def test_tls_names_the_url_host_and_verifies_its_certificate(tmp_path: Path) -> None:
    """The pinned TLS connection sends SNI for the URL host and refuses an untrusted certificate."""
    server_names: list[str | None] = []
    context = _self_signed(tmp_path)
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)  # type: ignore[assignment]

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        connector = Recorder(httpcore.AnyIOBackend())
        async with deliverer(PRIVATE_ALLOWED, Answers(["127.0.0.1"]), connector) as http:
            outcome = await http.post(f"https://{HOST}:{port}/hook", {}, b"{}")
    finally:
        server.close()
    assert outcome.status_code == 0 and outcome.error == "ConnectError"  # self-signed: refused
    assert connector.connects == [("127.0.0.1", port)]
    assert server_names == [HOST]
