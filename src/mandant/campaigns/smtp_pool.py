"""Persistent SMTP connections of one worker process (DESIGN §4), kept across batches.

A sending lane takes a connection from the pool for a batch and gives it back afterwards, so a
worker that sends batch after batch opens each connection once. A connection idle for longer
than ``SMTP_POOL_IDLE_SECONDS`` is closed instead of reused: relays drop idle clients.

``PooledConnection.send`` uses command pipelining (RFC 2920) when the server offers it: MAIL,
RCPT and DATA go out in one write and the message in a second, so a message costs two round
trips instead of four. After a refused transaction the connection is reset (RSET).
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from mandant.notices.delivery import (
    Outcome,
    Result,
    Wire,
    outcome_for_code,
    outcome_for_exception,
    smtp_send,
)

DEFAULT_IDLE_SECONDS = 30.0
_LEADING_DOT = re.compile(rb"(?m)^\.")


def idle_seconds() -> float:
    return float(getattr(settings, "SMTP_POOL_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))


@dataclass(frozen=True)
class RelayKey:
    host: str
    port: int
    username: str
    use_tls: bool
    use_ssl: bool

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


def relay_key(backend: SMTPBackend) -> RelayKey:
    return RelayKey(
        host=str(backend.host),
        port=int(backend.port),
        username=str(backend.username or ""),
        use_tls=bool(backend.use_tls),
        use_ssl=bool(backend.use_ssl),
    )


def dot_stuffed(data: bytes) -> bytes:
    """DATA content: leading dots doubled, ended by CRLF "." CRLF (``data`` has CRLF ends)."""
    quoted = _LEADING_DOT.sub(b"..", data)
    if not quoted.endswith(b"\r\n"):
        quoted += b"\r\n"
    return quoted + b".\r\n"


class PooledConnection:
    """One SMTP connection (opened through Django's SMTP backend: TLS, SSL and login as
    configured) with a pipelined send."""

    def __init__(self, backend: SMTPBackend) -> None:
        self.backend = backend
        self.last_used = 0.0

    @property
    def smtp(self) -> smtplib.SMTP | None:
        return self.backend.connection

    def open(self) -> Outcome | None:
        if self.smtp is not None:
            return None
        try:
            self.backend.open()
            smtp = self.smtp
            assert smtp is not None
            smtp.ehlo_or_helo_if_needed()
        except Exception as exc:
            self.close()
            return Outcome(Result.TEMPORARY, f"{type(exc).__name__}: {exc}", reconnect=True)
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.backend.close()
        self.backend.connection = None

    def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        """One message to one recipient; reconnects once when a reused connection was dropped."""
        for attempt in (1, 2):
            failure = self.open()
            if failure is not None:
                return failure
            outcome = self._transaction(sender, recipient, data)
            if not outcome.reconnect:
                self.last_used = time.monotonic()
                return outcome
            self.close()
            if attempt == 2 or "421" in outcome.response:
                return outcome
        return outcome  # pragma: no cover - the loop always returns

    def _transaction(self, sender: str, recipient: str, data: bytes) -> Outcome:
        smtp = self.smtp
        assert smtp is not None
        try:
            if not smtp.has_extn("pipelining"):
                return smtp_send(smtp, Wire(sender, [recipient], data))
            smtp.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode())
            mail = smtp.getreply()
            rcpt = smtp.getreply()
            go = smtp.getreply()
            refused = None
            if mail[0] != 250:
                refused = outcome_for_code(*mail, stage="mail")
            elif rcpt[0] not in (250, 251):
                refused = outcome_for_code(*rcpt, stage="rcpt")
            if refused is not None or go[0] != 354:
                if go[0] == 354:
                    # The server took DATA although the envelope failed: end it empty.
                    smtp.send(b".\r\n")
                    smtp.getreply()
                self._reset(smtp)
                return refused or outcome_for_code(*go, stage="data")
            smtp.send(dot_stuffed(data))
            code, reply = smtp.getreply()
            if code != 250:
                self._reset(smtp)
            return outcome_for_code(code, reply, stage="data")
        except (smtplib.SMTPException, OSError) as exc:
            return outcome_for_exception(exc)

    @staticmethod
    def _reset(smtp: smtplib.SMTP) -> None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.rset()


class ConnectionPool:
    """Idle connections per relay; thread-safe (each sending lane is a thread)."""

    def __init__(self) -> None:
        self._idle: dict[RelayKey, list[PooledConnection]] = {}
        self._lock = threading.Lock()
        self.opened = 0  # connections created by this pool (the tests read it)

    def acquire(self, backend: SMTPBackend) -> PooledConnection:
        key = relay_key(backend)
        limit = idle_seconds()
        with self._lock:
            idle = self._idle.get(key, [])
            while idle:
                connection = idle.pop()
                if time.monotonic() - connection.last_used <= limit:
                    return connection
                connection.close()
            self.opened += 1
        return PooledConnection(backend)

    def release(self, connection: PooledConnection) -> None:
        if connection.smtp is None:
            return
        with self._lock:
            self._idle.setdefault(relay_key(connection.backend), []).append(connection)

    @contextlib.contextmanager
    def connection(self) -> Iterator[PooledConnection]:
        backend = get_connection(fail_silently=False)
        assert isinstance(backend, SMTPBackend)
        connection = self.acquire(backend)
        try:
            yield connection
        finally:
            self.release(connection)

    def close_all(self) -> None:
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()


# The worker process's pool.
POOL = ConnectionPool()
