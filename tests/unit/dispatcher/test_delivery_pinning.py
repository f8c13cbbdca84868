"""Deliveries connect only to the address that passed the public-address check, per attempt."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from behalf.dispatcher.delivery import (
    _PINNED,
    MAX_STORED_BODY,
    DeliverySettings,
    HttpDeliverer,
    PinnedResolver,
    _Pin,
)
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

    async def __call__(self, host: str, port: int, tenant_id: str) -> Sequence[str]:
        self.asked.append((host, port))
        answer = self._answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer


class Canned:
    """A local server answering each connection's requests with `responses` in turn, recording
    every request; the `dial` seam sends every checked address here (or, for an address in
    `failing`, to a closed port) and records which address was dialled."""

    def __init__(self, *responses: bytes, failing: Iterable[str] = ()) -> None:
        self.responses = list(responses)
        self.failing = set(failing)
        self.connects: list[tuple[str, int]] = []
        self.requests: list[bytes] = []
        self.port = 0
        self.closed_port = 0
        self.trusted: ssl.SSLContext | None = None  # the client's trust for the server's cert

    def dial(self, address: str, port: int) -> tuple[str, int]:
        self.connects.append((address, port))
        return "127.0.0.1", self.closed_port if address in self.failing else self.port

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while self.responses:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                response = self.responses.pop(0)
                writer.write(response)
                await writer.drain()
                if b"connection: close" in response:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) TLS contexts: a certificate for HOST, and a client that trusts it."""
    folder = tmp_path_factory.mktemp("tls")
    server = _self_signed(folder)
    return server, ssl.create_default_context(cafile=folder / "cert.pem")


@contextlib.asynccontextmanager
async def serving(
    *responses: bytes,
    failing: Iterable[str] = (),
    tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
) -> AsyncIterator[Canned]:
    server = Canned(*responses, failing=failing)
    if tls is not None:
        server.trusted = tls[1]
    listening = await asyncio.start_server(
        server.handle, "127.0.0.1", 0, ssl=tls[0] if tls else None
    )
    server.port = listening.sockets[0].getsockname()[1]
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound and never listening: a connect is refused
        server.closed_port = closed.getsockname()[1]
        try:
            yield server
        finally:
            listening.close()


@contextlib.asynccontextmanager
async def deliverer(
    settings: DeliverySettings, resolver: Answers, server: Canned | None = None
) -> AsyncIterator[HttpDeliverer]:
    if server is None:
        delivering = HttpDeliverer(settings, resolver=resolver)
    else:
        delivering = HttpDeliverer(
            settings, resolver=resolver, dial=server.dial, ssl_context=server.trusted
        )
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


def _posts(server: Canned) -> int:
    return sum(request.startswith(b"POST ") for request in server.requests)


async def test_the_connection_goes_to_the_resolved_address_with_the_original_host(
    receiver: Receiver,
) -> None:
    """A local server gets the POST at the resolver's 127.0.0.1, with Host naming the URL host."""
    resolver = Answers(["127.0.0.1"])
    async with deliverer(PRIVATE_ALLOWED, resolver) as http:
        outcome = await http.post(f"http://{HOST}:{receiver.port}/hook?a=1", {}, b"{}")
    assert (outcome.status_code, outcome.error) == (200, "")
    assert resolver.asked == [(HOST, receiver.port)]
    [request] = receiver.requests
    assert request.headers["host"] == f"{HOST}:{receiver.port}" and request.path == "/hook?a=1"
    assert request.headers["user-agent"] == "Behalf-Webhooks/1" and request.body == b"{}"


async def test_a_loopback_answer_is_refused_without_the_development_setting(
    receiver: Receiver,
) -> None:
    """With private targets off, a resolver answering 127.0.0.1 ends the attempt unconnected."""
    async with deliverer(PUBLIC, Answers(["127.0.0.1"])) as http:
        outcome = await http.post(f"https://{HOST}:{receiver.port}/hook", {}, b"{}")
    assert outcome.permanent and outcome.status_code == 0
    assert "refused address" in outcome.error and "private" in outcome.error
    assert receiver.requests == []


async def test_dns_rebinding_connects_only_to_the_checked_address(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """Public, then loopback: the first attempt connects to the public address, the next nowhere."""
    resolver = Answers([PUBLIC_A], ["127.0.0.1"])
    async with serving(OK, OK, tls=tls) as server, deliverer(PUBLIC, resolver, server) as http:
        first = await http.post(f"https://{HOST}/hook", {}, b"{}")
        second = await http.post(f"https://{HOST}/hook", {}, b"{}")
    assert (first.status_code, first.error) == (200, "")
    assert second.permanent and "refused address" in second.error
    assert resolver.asked == [(HOST, 443), (HOST, 443)]  # once per attempt, never by the client
    assert server.connects == [(PUBLIC_A, 443)]
    assert _posts(server) == 1  # none pooled


async def test_each_attempt_connects_to_its_own_answer(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """A host that moves between public addresses is reached at each attempt's checked answer."""
    resolver = Answers([PUBLIC_A], [PUBLIC_B], ["169.254.169.254"])
    async with (
        serving(OK_CLOSE, OK_CLOSE, tls=tls) as server,
        deliverer(PUBLIC, resolver, server) as http,
    ):
        outcomes = [await http.post(f"https://{HOST}/hook", {}, b"{}") for _ in range(3)]
    assert [o.status_code for o in outcomes] == [200, 200, 0] and outcomes[2].permanent
    assert server.connects == [(PUBLIC_A, 443), (PUBLIC_B, 443)]


async def test_a_kept_alive_connection_serves_the_next_checked_attempt(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """Keep-alive: the second attempt's answer is checked again, then the pooled connection
    to the address the first attempt checked carries it."""
    resolver = Answers([PUBLIC_A], [PUBLIC_A])
    async with serving(OK, OK, tls=tls) as server, deliverer(PUBLIC, resolver, server) as http:
        outcomes = [await http.post(f"https://{HOST}/hook", {}, b"{}") for _ in range(2)]
    assert [o.status_code for o in outcomes] == [200, 200]
    assert len(resolver.asked) == 2 and server.connects == [(PUBLIC_A, 443)]
    assert _posts(server) == 2


async def test_one_refused_address_in_the_answer_refuses_the_attempt() -> None:
    """A public address next to a private one (or a NAT64 form of metadata) is not enough."""
    for answer in ([PUBLIC_A, "10.0.0.1"], ["64:ff9b::a9fe:a9fe"], ["2002:a9fe:a9fe::1"]):
        async with serving(OK) as server, deliverer(PUBLIC, Answers(answer), server) as http:
            outcome = await http.post(f"https://{HOST}/hook", {}, b"{}")
        assert outcome.permanent and "refused address" in outcome.error
        assert server.connects == [] and server.requests == []


async def test_checked_addresses_are_tried_in_the_resolvers_order(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """When the first checked address does not connect, the next checked one is used."""
    resolver = Answers([PUBLIC_A, PUBLIC_B])
    async with (
        serving(OK, failing=[PUBLIC_A], tls=tls) as server,
        deliverer(PUBLIC, resolver, server) as http,
    ):
        outcome = await http.post(f"https://{HOST}:8443/hook", {}, b"{}")
    assert outcome.status_code == 200
    assert server.connects == [(PUBLIC_A, 8443), (PUBLIC_B, 8443)]


async def test_an_ip_literal_is_checked_without_resolving(receiver: Receiver) -> None:
    """An IP-literal URL is its own answer: no question to the resolver; an embedded metadata
    address is refused, a loopback one (private targets allowed) is reached."""
    resolver = Answers()  # any question would fail the test
    async with deliverer(PUBLIC, resolver) as http:
        mapped = await http.post("https://[::ffff:169.254.169.254]/hook", {}, b"{}")
        metadata = await http.post("http://169.254.169.254/latest/meta-data", {}, b"{}")
    async with deliverer(PRIVATE_ALLOWED, resolver) as http:
        local = await http.post(f"http://127.0.0.1:{receiver.port}/hook", {}, b"{}")
    assert mapped.permanent and metadata.permanent and local.status_code == 200
    assert resolver.asked == [] and len(receiver.requests) == 1


async def test_an_unresolvable_host_fails_and_is_retried() -> None:
    """A resolver error fails the attempt as retryable, and nothing connects."""
    async with serving(OK) as server:
        async with deliverer(PUBLIC, Answers(OSError("no such host")), server) as http:
            outcome = await http.post(f"https://{HOST}/hook", {}, b"{}")
    assert not outcome.permanent and "resolve" in outcome.error
    assert server.connects == []


@pytest.mark.parametrize(
    "host",
    ["hooks..example.org", "a" * 64 + ".example.org"],  # an empty label, one of 64
)
async def test_a_host_no_resolver_can_encode_is_a_recorded_permanent_failure(host: str) -> None:
    """The system resolver raises UnicodeError (not an OSError) for a name no DNS query can
    carry. That is the attempt's answer, a permanent one; before, it escaped `post`, and the
    delivery stayed pending with no attempt recorded, queued again by every reclaim."""
    http = HttpDeliverer(PUBLIC)
    try:
        outcome = await http.post(f"https://{host}/hook", {}, b"{}")
    finally:
        await http.close()
    assert outcome.permanent and outcome.error == "the endpoint host is not a valid DNS name"


async def test_an_unforeseen_error_is_a_failed_attempt_not_a_lost_one() -> None:
    """Whatever goes wrong inside an attempt ends as a failed outcome (retried, then dead)."""

    async def broken(host: str, port: int, tenant_id: str) -> Sequence[str]:
        raise RuntimeError("a bug")

    async with serving(OK) as server:
        async with deliverer(PUBLIC, broken, server) as http:
            outcome = await http.post(f"https://{HOST}/hook", {}, b"{}")
    assert not outcome.succeeded and not outcome.permanent
    assert outcome.error == "internal error" and server.connects == []


async def test_the_client_resolver_answers_nothing_without_a_pin() -> None:
    """Outside an attempt, or for another host or port than the pin's, the client's resolver
    answers nothing, so no connection can be opened."""
    async with serving(OK) as server:
        resolver = PinnedResolver(server.dial)
        with pytest.raises(OSError, match="no checked address"):
            await resolver.resolve(HOST, 443)
        token = _PINNED.set(_Pin(HOST, 443, (PUBLIC_A,)))
        try:
            for host, port in ((HOST, 80), ("other.example.test", 443)):
                with pytest.raises(OSError, match="no checked address"):
                    await resolver.resolve(host, port)
            [answer] = await resolver.resolve(HOST, 443)
        finally:
            _PINNED.reset(token)
    assert answer["hostname"] == HOST and server.connects == [(PUBLIC_A, 443)]


async def test_a_redirect_is_not_followed(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """A 3xx is the attempt's answer: its Location (here the metadata address) is never asked."""
    redirect = b"HTTP/1.1 307 X\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n"
    async with (
        serving(redirect, tls=tls) as server,
        deliverer(PUBLIC, Answers([PUBLIC_A]), server) as http,
    ):
        outcome = await http.post(f"https://{HOST}/hook", {}, b"{}")
    assert (outcome.status_code, outcome.error) == (307, "HTTP 307")
    assert server.connects == [(PUBLIC_A, 443)] and _posts(server) == 1


async def test_a_large_response_body_is_stored_only_up_to_its_bound(
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """Only the first MAX_STORED_BODY bytes of a response are read and kept."""
    big = b"x" * 100_000
    response = b"HTTP/1.1 500 X\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big)
    async with (
        serving(response, tls=tls) as server,
        deliverer(PUBLIC, Answers([PUBLIC_A]), server) as http,
    ):
        outcome = await http.post(f"https://{HOST}/hook", {}, b"{}")
    assert outcome.status_code == 500 and outcome.response_body == "x" * MAX_STORED_BODY


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
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        resolver = Answers(["127.0.0.1"])
        async with deliverer(PRIVATE_ALLOWED, resolver) as http:
            outcome = await http.post(f"https://{HOST}:{port}/hook", {}, b"{}")
    finally:
        server.close()
    assert outcome.status_code == 0 and outcome.error == "ConnectError"  # self-signed: refused
    assert resolver.asked == [(HOST, port)]
    assert server_names == [HOST]
