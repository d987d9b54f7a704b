"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1, a free port, in a thread.

The handler records every accepted message and every connection (EHLO/HELO), answers
``550`` for the addresses in ``refuse`` and ``451`` for those in ``defer``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    refuse: set[str] = field(default_factory=set)  # answered 550 at RCPT TO
    defer: set[str] = field(default_factory=set)  # answered 451 at RCPT TO
    delay: float = 0.0  # seconds before each RCPT TO answer: a slow server, for the crash test
    # Called with the session at each RCPT TO, before the answer (the crash test kills a
    # worker there: while it waits for the answer, no message of it can have been accepted).
    on_rcpt: Callable[[Any], None] | None = None
    # Offer PIPELINING (RFC 2920) in the EHLO answer: aiosmtpd reads commands line by line, so
    # a pipelined group is answered in order; without it clients use the classic sequence.
    pipelining: bool = False
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.on_rcpt is not None:
            self.on_rcpt(session)
        if self.delay:
            await asyncio.sleep(self.delay)
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.lower() in self.defer:
            return f"451 4.7.1 <{address}>: Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
            number = len(self.received)
        return f"250 2.0.0 Ok: queued as T{number:05d}"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


@contextmanager
def smtp_server(tls_context: ssl.SSLContext | None = None) -> Iterator[SmtpServer]:
    """With ``tls_context`` the server offers STARTTLS and requires it before MAIL."""
    handler = RecordingHandler()
    port = free_port()
    tls = {"tls_context": tls_context, "require_starttls": True} if tls_context else {}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **tls)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


def self_signed_certificate(directory: Path) -> Path:
    """A certificate for 127.0.0.1 (and its key) in one PEM file."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "relay.pem"
    path.write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
